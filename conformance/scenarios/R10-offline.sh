#!/usr/bin/env bash
# R10 Offline backup: with the server tier unreachable, pushes succeed on the
# local tier alone (exit 0, the skip reported); when the server is back, sync
# brings it to the same revision, and fsck --read-data proves each tier holds
# every chunk, the tiers agreeing.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want2

step "server unreachable: two pushes land on the local tier alone"
srv_fault offline
for i in 3 4; do
	head -c 100000 /dev/urandom >"$SRC/r10-$i.bin"
	tool tier-push -s state "$SRC"
	expect_exit 0
	expect_stdout_match "^$i\$"
	expect_stderr_match "server.*offline|offline.*server"
done
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server skipped-offline
expect_push_result local written
expect_json .revision 5
snapshot want5
tool tier-status -s state --json
expect_exit 7
expect_json '.tiers[] | select(.name == "server") | .online' false
restore_check out-off "$TT_TMP/want5" -s state

step "server back: sync levels it"
srv_ok
tool tier-sync -s state
expect_exit 0
tool tier-status -s state --json
expect_exit 0
expect_rev server 5
expect_rev local 5

step "fsck --read-data clean on each tier alone and across both"
tool tier-fsck -t "server=$SRV" --read-data
expect_exit 0
tool tier-fsck -t "local=$LOCAL" --read-data
expect_exit 0
fsck_clean
if [ -n "$SRV_DIR" ]; then
	a=$(cd "$LOCAL_DIR/data" && find . -type f -exec md5sum {} + | sort)
	b=$(cd "$SRV_DIR/data" && find . -type f -exec md5sum {} + | sort)
	check "both tiers hold identical data packs" [ "$a" = "$b" ]
	[ "$a" = "$b" ] || diff <(echo "$a") <(echo "$b") | sed 's/^/    | /' >&3
fi
restore_check out-srv "$TT_TMP/want5" -t "server=$SRV"
restore_check out-old "$TT_TMP/want2" -t "server=$SRV" -r 2
git_fsck_both
