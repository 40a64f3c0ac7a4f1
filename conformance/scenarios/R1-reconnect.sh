#!/usr/bin/env bash
# R1 Reconnect: transient failures are retried (the Nth call failing does not
# fail the push), permanent ones are not (one attempt, counted through the
# fault log), and a tier whose attempts run out is offline for the rest of the
# operation: exactly --retries attempts, then no call at all.
. "$(dirname "$0")/../conf.sh"

conf_init

step "the first put on the server fails once (transient): retried, push complete"
srv_fault "fail put 1" "log $TT_TMP/calls.log"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server written
expect_push_result local written
n=$(grep -c '^put .* -> offline$' "$TT_TMP/calls.log")
check "exactly one put failed on the server ($n)" [ "$n" = 1 ]
first=$(grep -m1 '^put ' "$TT_TMP/calls.log" | awk '{print $2}')
n=$(grep -c "^put $first -> " "$TT_TMP/calls.log")
check "the failed put '$first' was tried again ($n attempts)" [ "$n" = 2 ]
expect_rev server 2
expect_rev local 2

step "calls 1-2 of every kind fail: still within 3 attempts"
srv_fault "fail any 1-2"
echo more >"$SRC/r1-more.txt"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server written
expect_rev server 3

step "a permanent failure (auth) on a put is not retried"
rm -f "$TT_TMP/calls.log"
srv_fault "fail put 1 auth" "log $TT_TMP/calls.log"
echo perm >"$SRC/r1-perm.txt"
tool tier-push -s state --json "$SRC"
expect_push_result local written
expect_push_result server failed
first=$(grep -m1 '^put ' "$TT_TMP/calls.log" | awk '{print $2}')
n=$(grep -c "^put $first -> " "$TT_TMP/calls.log")
check "the put that failed permanently was tried once ($n)" [ "$n" = 1 ]
expect_json '.tiers[] | select(.name == "server") | .error | test("auth")' true
expect_rev local 4

step "the server goes offline: exactly --retries attempts, then no further call"
rm -f "$TT_TMP/calls.log"
srv_fault offline "log $TT_TMP/calls.log"
echo off >"$SRC/r1-off.txt"
run_tool tier-push -s state --retries 4 --retry-delay 1 "$SRC"
expect_exit 0
expect_stdout_match '^5$'
expect_stderr_match "server.*offline"
n=$(wc -l <"$TT_TMP/calls.log")
check "4 attempts on the offline server, no more ($n calls)" [ "$n" = 4 ]
echo off2 >"$SRC/r1-off2.txt"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server skipped-offline
expect_push_result local written

step "the server answers again: detected behind, sync levels it"
srv_ok
tool tier-status -s state --json
expect_exit 7
expect_json '.tiers[] | select(.name == "server") | .synchronized' false
tool tier-sync -s state
expect_exit 0
expect_rev server "$(rev local)"
expect_synced server
snapshot want
restore_check out "$TT_TMP/want" -s state
git_fsck_both
