#!/usr/bin/env bash
# R6 Sync: the revisions a tier missed are replayed onto it (log and data);
# a sync killed at any put resumes where it stopped and never leaves the tier
# pointing at data it lacks; afterwards the tier is level and writable.
. "$(dirname "$0")/../conf.sh"

conf_init

step "server away for three pushes, each with new data"
srv_fault offline
for i in 2 3 4; do
	head -c 70000 /dev/urandom >"$SRC/r6-$i.bin"
	tool tier-push -s state "$SRC"
	expect_exit 0
	snapshot "want$i"
done
srv_ok
expect_rev server 1
expect_rev local 4

step "tier-sync killed at its 1st put, then at its 2nd, 3rd...: resumes each time"
last=1
done_=no
for run in $(seq 1 30); do
	srv_fault "crash put $run" "log $TT_TMP/calls.log"
	tool tier-sync -s state
	srv_ok
	r=$(rev server)
	if [ "$TT_EXIT" = 0 ]; then
		done_=yes
		break
	fi
	if [ "$TT_EXIT" != 137 ]; then
		fail "tier-sync run $run: expected exit 137 (killed) or 0, got $TT_EXIT"
		break
	fi
	if [ "${r:-0}" -lt "$last" ]; then
		fail "tier-sync run $run: the server went back from revision $last to $r"
	fi
	last=${r:-0}
	# the tier alone: consistent at the revision it is at
	tool tier-fsck -t "server=$SRV"
	if [ "$TT_EXIT" != 0 ]; then
		fail "after killed sync run $run the server (revision $r) is not consistent"
	fi
done
check "the sync finished after $run runs, resuming each time" [ "$done_" = yes ]
pass "the server never went back nor was inconsistent over $run runs"
n=$(awk '$1 == "put" && $4 == "ok" {print $2}' "$TT_TMP/calls.log" | grep '^data/' | sort | uniq -d | wc -l)
check "no data pack was uploaded twice across the resumed runs ($n)" [ "$n" = 0 ]
expect_rev server 4
expect_synced server

step "the levelled server holds every revision by itself"
restore_check out4 "$TT_TMP/want4" -t "server=$SRV"
restore_check out2 "$TT_TMP/want2" -t "server=$SRV" -r 2
tool tier-fsck -t "server=$SRV" --read-data
expect_exit 0

step "the levelled server takes writes again"
echo r6 >"$SRC/r6-after.txt"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server written
expect_rev server 5
fsck_clean
git_fsck_both
