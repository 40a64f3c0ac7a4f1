#!/usr/bin/env bash
# Bad input: a tier that fills up (fault enospc, never by filling the
# integrator's storage).  The full tier fails with one clear line naming it
# and "no space", is not retried, the push lands on the other tier, earlier
# revisions stay whole on the full tier, and a sync levels it once it has room.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want2

step "the server is full from the first put"
srv_fault enospc "log $TT_TMP/calls.log"
head -c 200000 /dev/urandom >"$SRC/full-1.bin"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result local written
expect_push_result server failed
expect_json '.tiers[] | select(.name == "server") | .error | test("space")' true
n=$(grep -c 'no space' "$TT_TMP/calls.log")
check "no space is not retried: one failed put ($n)" [ "$n" = 1 ]
tool tier-push -s state "$SRC"
expect_exit 0
expect_stderr_match "tier 'server' skipped \\(unsynchroni"

step "the server fills up part way through a push"
srv_ok
tool tier-sync -s state
expect_exit 0
srv_fault "enospc 100000"
head -c 300000 /dev/urandom >"$SRC/full-2.bin"
tool tier-push -s state "$SRC"
expect_exit 0
expect_stderr_match "server"
expect_stderr_match "space"
srv_ok
tool tier-fsck -t "server=$SRV"
expect_exit 0
restore_check out2 "$TT_TMP/want2" -t "server=$SRV" -r 2

step "room again: sync levels the server"
tool tier-sync -s state
expect_exit 0
expect_rev server "$(rev local)"
snapshot want
restore_check out "$TT_TMP/want" -t "server=$SRV"
fsck_clean
git_fsck_both
