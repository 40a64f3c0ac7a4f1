#!/usr/bin/env bash
# R7 Writes abort sync: a push started while a sync runs on a slow tier stops
# that sync within one second (tier-sync exits 6); the tier stays consistent
# at an earlier revision, and the next sync finishes the job.
. "$(dirname "$0")/../conf.sh"

conf_init

step "server away for four pushes"
srv_fault offline
for i in 2 3 4 5; do
	head -c 50000 /dev/urandom >"$SRC/r7-$i.bin"
	tool tier-push -s state "$SRC"
	expect_exit 0
done
srv_ok

step "a slow server (100 ms a call): sync running, then a push starts"
srv_fault "delay 100"
(
	rc=0
	"$TIER_TOOLS_DIR/tier-sync" "${CONF_OPTS[@]}" -s state >"$TT_TMP/sync.out" 2>"$TT_TMP/sync.err" </dev/null || rc=$?
	date +%s%N >"$TT_TMP/sync.end"
	echo "$rc" >"$TT_TMP/sync.rc"
) &
bg=$!
sleep 1.2
check "the sync is still running after 1.2 s" [ ! -e "$TT_TMP/sync.rc" ]
echo r7 >"$SRC/r7-push.txt"
t0=$(date +%s%N)
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result local written
wait "$bg"
rc=$(cat "$TT_TMP/sync.rc")
ms=$((($(cat "$TT_TMP/sync.end") - t0) / 1000000))
check "tier-sync exited 6 (interrupted) (got $rc: $(tr '\n' ' ' <"$TT_TMP/sync.err" | head -c 200))" [ "$rc" = 6 ]
check "tier-sync stopped ${ms} ms after the push started (at most 1000)" [ "$ms" -le 1000 ]
srv_ok
r=$(rev server)
check "the server stayed at an earlier revision ($r < 6)" [ "${r:-0}" -lt 6 ]
tool tier-fsck -t "server=$SRV"
expect_exit 0

step "the next sync resumes and levels the server"
tool tier-sync -s state
expect_exit 0
expect_rev server 6
expect_synced server
snapshot want
restore_check out "$TT_TMP/want" -t "server=$SRV"
fsck_clean
git_fsck_both
