#!/usr/bin/env bash
# Bad input: a corrupt pack.  With only the damaged tier to read from the
# restore fails in one line naming the chunk and pack (exit 1) and tier-fsck
# --read-data names it (exit 5); with the tier under test back, the restore
# equals the backup and tier-fsck --repair mends the damaged tier.  The
# damage is done to the local tier this scenario owns.
. "$(dirname "$0")/../conf.sh"

conf_init local-first
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want
for p in "$LOCAL_DIR"/data/*/*; do
	printf 'garbage!' | dd of="$p" bs=1 seek=40 conv=notrunc status=none
done

step "only the damaged tier answers"
srv_fault offline
tool tier-restore -s state out1
expect_exit 1
expect_error_one_line
expect_stderr_match "[0-9a-f]{12}"
expect_stderr_match "hash|corrupt|damaged"
tool tier-fsck -t "local=$LOCAL" --read-data
expect_exit 5
expect_stdout_match "data/[0-9a-f]{2}/[0-9a-f]{12}"

step "the tier under test answers: restore whole, repair"
srv_ok
restore_check out2 "$TT_TMP/want" -s state
tool tier-fsck -s state --read-data
expect_exit 5
tool tier-fsck -s state --read-data --repair
expect_exit 0
tool tier-fsck -t "local=$LOCAL" --read-data
expect_exit 0
restore_check out3 "$TT_TMP/want" -t "local=$LOCAL"
git_fsck_both
