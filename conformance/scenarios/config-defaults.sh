#!/usr/bin/env bash
# Defaults from <state>/config (SPEC section 9, docs/config.md): tier-push
# with no PATH backs up push.path; a key named by the rule "<tool>.<flag in
# camelCase>" is the default of that flag, the command line wins; a bad
# value or an unknown key is one line naming it, exit 2, nothing written.
. "$(dirname "$0")/../lib.sh"

mkdir -p src1 src2
printf 'one\n' >src1/a
printf 'two\n' >src2/b
url=$(file_tier a)
run_tool tier-init -s state -t "a=$url"
expect_exit 0

step "no PATH and no push.path: a usage error"
run_tool tier-push -s state
expect_exit 2
expect_stderr_one_line
expect_stderr_match 'push\.path'

step "no PATH: the push.path list"
run_tool tier-config -s state --add push.path "$TT_TMP/src1"
expect_exit 0
run_tool tier-config -s state --add push.path "$TT_TMP/src2"
expect_exit 0
run_tool tier-push -s state
expect_exit 0
rev=$(last_stdout)
run_tool tier-restore -s state -r "$rev" out
expect_exit 0
cmp -s src1/a "out$TT_TMP/src1/a" && cmp -s src2/b "out$TT_TMP/src2/b" &&
	pass "both push.path directories restored" || fail "restore differs"

step "a PATH on the command line replaces push.path"
run_tool tier-push -s state --json "$TT_TMP/src2"
expect_exit 0
expect_json .stats.files 1

step "a flag's key is its default; the command line wins"
run_tool tier-config -s state push.threads 99
expect_exit 0
run_tool tier-push -s state
expect_exit 2
expect_stderr_one_line
expect_stderr_match "config key 'push.threads' in '.*config'"
run_tool tier-push -s state --threads 2 -q
expect_exit 0
run_tool tier-config -s state push.threads 2
expect_exit 0
run_tool tier-config -s state push.packSize 10
expect_exit 0
run_tool tier-push -s state
expect_exit 2
expect_stderr_match "push.packSize"
run_tool tier-config -s state --unset push.packSize
expect_exit 0

step "common keys: retry.count, retry.delay, push.waitTimeout"
run_tool tier-config -s state retry.count 2
expect_exit 0
run_tool tier-config -s state retry.delay 1ms
expect_exit 0
run_tool tier-config -s state push.waitTimeout 0
expect_exit 0
mv tiers/a tiers/a.away
run_tool tier-push -s state -v
mv tiers/a.away tiers/a
expect_exit 1
expect_stderr_match 'attempt 2/2 failed'
expect_stderr_no_match 'attempt 3'
expect_stderr_match 'no tier can take the write'

step "an unknown key in the file: every tool refuses, one line, exit 2"
git config -f state/config push.frobnicate yes
run_tool tier-push -s state
expect_exit 2
expect_stderr_one_line
expect_stderr_match "unknown config key 'push.frobnicate'"
run_tool tier-status -s state
expect_exit 2
expect_stderr_one_line
step "tier-config still mends it"
run_tool tier-config -s state --unset push.frobnicate
expect_exit 0
run_tool tier-push -s state -q
expect_exit 0
