#!/usr/bin/env bash
# Bad input: a truncated git object on a tier (its log pack cut in half).
# Tools name the damaged tier in one line and never take it for another
# installation or a rollback; reads and writes go on with the tier under
# test; every revision stays restorable from it.
. "$(dirname "$0")/../conf.sh"

conf_init local-first
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want2
echo more >"$SRC/more.txt"
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want3

for p in "$LOCAL_DIR"/log.git/objects/pack/*.pack; do
	sz=$(stat -c %s "$p")
	truncate -s $((sz / 2)) "$p"
done

step "the damage is found and named, never taken for a foreign writer"
tool tier-status -s state
expect_exit_in "0 7"
tool tier-fsck -t "local=$LOCAL"
expect_exit 5
expect_stdout_match "tier 'local'"
tool tier-restore -t "local=$LOCAL" alone
expect_exit 1
expect_error_one_line
expect_stderr_match "local"
tool tier-fsck -s state
expect_exit 5
expect_stdout_match "tier 'local'"

step "restore and push go on with the tier under test"
restore_check out3 "$TT_TMP/want3" -s state
restore_check out2 "$TT_TMP/want2" -s state -r 2
echo again >"$SRC/again.txt"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server written
expect_rev server 4
tool tier-fsck -t "server=$SRV" --read-data
expect_exit 0
git_fsck "$SRV_DIR" server
if git --git-dir="$LOCAL_DIR/log.git" fsck >/dev/null 2>&1; then
	fail "stock git does not see the truncation (test broken)"
else
	pass "stock git sees the truncated pack too"
fi
