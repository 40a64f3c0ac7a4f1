#!/usr/bin/env bash
# tier-config over <state>/config (SPEC section 9): set, get, --add, --list,
# --unset; unknown keys and bad values refused with one line, exit 2, the
# file unchanged; the file stays 0600 and git itself reads it.
. "$(dirname "$0")/../lib.sh"

url=$(file_tier a)
run_tool tier-init -s state -t "a=$url"
expect_exit 0

step "set and get"
run_tool tier-config -s state push.excludeLargerThan 10M
expect_exit 0
expect_stdout_empty
run_tool tier-config -s state push.excludeLargerThan
expect_exit 0
expect_stdout_match '^10M$'
run_tool tier-config -s state hooks.timeout 5m
expect_exit 0
run_tool tier-config -s state tier.a.limitUpload 512K
expect_exit 0
run_tool tier-config -s state forget.keepWithin 2y5m7d3h
expect_exit 0

step "multi-valued keys: --add appends, a plain set replaces"
run_tool tier-config -s state push.exclude '*.tmp'
expect_exit 0
run_tool tier-config -s state --add push.exclude 'node_modules/'
expect_exit 0
run_tool tier-config -s state push.exclude
expect_exit 0
[ "$(last_stdout)" = "$(printf '*.tmp\nnode_modules/')" ] &&
	pass "both values, in order" || fail "got: $(last_stdout)"
run_tool tier-config -s state --add push.threads 4
expect_exit 2
expect_stderr_one_line

step "--list, and git reads the same file"
run_tool tier-config -s state --list
expect_exit 0
expect_stdout_match '^push\.exclude=node_modules/$'
expect_stdout_match '^vault\.id='
ours=$(last_stdout)
theirs=$(git config -f state/config --list)
[ "$ours" = "$theirs" ] && pass "git config --list agrees" ||
	fail "git config --list differs: $theirs"

step "bad input: one line, exit 2, nothing written"
before=$(cat state/config)
run_tool tier-config -s state frob.nicate yes
expect_exit 2
expect_stderr_one_line
expect_stderr_match "unknown config key 'frob.nicate'"
run_tool tier-config -s state push.excludeLargerThan 10Q
expect_exit 2
expect_stderr_one_line
expect_stderr_match "push.excludeLargerThan.*bad size '10Q'"
run_tool tier-config -s state push.oneFileSystem maybe
expect_exit 2
expect_stderr_one_line
run_tool tier-config -s state forget.keepWithin 2w
expect_exit 2
run_tool tier-config -s state vault.id 123
expect_exit 2
expect_stderr_one_line
[ "$before" = "$(cat state/config)" ] && pass "config unchanged" ||
	fail "config changed by refused values"

step "mode 0600 after every write"
[ "$(stat -c %a state/config)" = 600 ] && pass "mode 600" ||
	fail "mode $(stat -c %a state/config)"
(umask 022 && "$TIER_TOOLS_DIR/tier-config" -s state push.threads 2)
[ "$(stat -c %a state/config)" = 600 ] && pass "mode 600 under umask 022" ||
	fail "mode $(stat -c %a state/config) under umask 022"

step "a bad value written by hand is found on read, named with the file"
git config -f state/config push.threads lots
run_tool tier-config -s state --list
expect_exit 2
expect_stderr_one_line
expect_stderr_match "state/config.*push.threads.*bad int 'lots'"
run_tool tier-config -s state --unset push.threads
expect_exit 0
run_tool tier-config -s state --list
expect_exit 0
printf '[push\n' >>state/config
run_tool tier-config -s state --list
expect_exit 2
expect_stderr_one_line
expect_stderr_match 'state/config:[0-9]+'
sed -i '$d' state/config

step "unset, and a key not set"
run_tool tier-config -s state --unset push.exclude
expect_exit 0
run_tool tier-config -s state push.exclude
expect_exit 1
expect_stdout_empty
expect_stderr_empty
run_tool tier-config -s state --unset push.exclude
expect_exit 1
expect_stderr_one_line
run_tool tier-config --keys
expect_exit 0
expect_stdout_match '^tier\.\*\.limitUpload +rate'
