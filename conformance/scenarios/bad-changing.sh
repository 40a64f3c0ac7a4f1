#!/usr/bin/env bash
# Bad input: a file that changes while it is read (TIER_TEST_TOUCH_DURING_READ).
# The push reports it in one line naming it and stores what it read; the next
# push reads it again (not taken as unchanged); nothing else is affected.
. "$(dirname "$0")/../conf.sh"

conf_init
head -c 2000000 /dev/urandom >"$SRC/growing.log"

step "growing.log changes while the push reads it"
TIER_TEST_TOUCH_DURING_READ=$SRC/growing.log tool tier-push -s state --json "$SRC"
expect_exit_in "0 1"
expect_json .revision 2
expect_json .stats.changed 1
TIER_TEST_TOUCH_DURING_READ=$SRC/growing.log tool tier-push -s state "$SRC"
expect_stderr_match "growing.log' changed while it was read"
n=$(grep -c 'growing.log' "$TT_STDERR")
check "reported in one line ($n)" [ "$n" = 1 ]

step "what was read is restorable, and the next push reads the file again"
snapshot want
tool tier-push -s state --json "$SRC"
expect_exit 0
r=$(json_get .stats.read_bytes)
check "the changed file is read again by the next push (read_bytes=$r)" [ "${r:-0}" -ge 2000000 ]
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_json .stats.read_bytes 0
restore_check out "$TT_TMP/want" -t "server=$SRV"
fsck_clean
git_fsck_both
