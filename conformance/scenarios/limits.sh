#!/usr/bin/env bash
# Bandwidth caps (SPEC section 9, docs/config.md): --limit-upload and
# --limit-download on the tools that move data, tier.NAME.limitUpload /
# limitDownload in the config; the flag wins for the run; a bad rate is one
# line, exit 2.  Shown on a file:// tier: 2 MiB at 1 MiB/s takes >= 1.5 s.
. "$(dirname "$0")/../lib.sh"

mkdir -p src
head -c 2097152 /dev/urandom >src/big
url=$(file_tier a)
run_tool tier-init -s state -t "a=$url"
expect_exit 0

# timed TOOL ARGS...: run_tool, the seconds it took in $took
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	run_tool "$@"
	t1=$(date +%s.%N)
	took=$(echo "$t1 - $t0" | bc)
}
at_least() { [ "$(echo "$took >= $1" | bc)" = 1 ]; }

step "--limit-upload 1M: a 2 MiB push takes 1.5 s or more"
timed tier-push -s state -q --limit-upload 1M src
expect_exit 0
at_least 1.5 && pass "capped push: ${took}s" || fail "capped push took ${took}s"
capped=$took

step "--limit-download 1M: restoring it takes 1.5 s or more, same bytes"
timed tier-restore -s state -q --limit-download 1M out
expect_exit 0
at_least 1.5 && pass "capped restore: ${took}s" || fail "capped restore took ${took}s"
cmp -s src/big "out$TT_TMP/src/big" && pass "restored bytes equal" || fail "restore differs"

step "no cap: faster"
head -c 2097152 /dev/urandom >src/big
timed tier-push -s state -q src
expect_exit 0
[ "$(echo "$took < $capped" | bc)" = 1 ] && pass "uncapped push: ${took}s" ||
	fail "uncapped push took ${took}s, capped ${capped}s"

step "tier.a.limitUpload in the config caps the tier; the flag wins"
run_tool tier-config -s state tier.a.limitUpload 1M
expect_exit 0
head -c 2097152 /dev/urandom >src/big
timed tier-push -s state -q src
expect_exit 0
at_least 1.5 && pass "config cap: ${took}s" || fail "config-capped push took ${took}s"
head -c 2097152 /dev/urandom >src/big
timed tier-push -s state -q --limit-upload 8M src
expect_exit 0
[ "$(echo "$took < 1.5" | bc)" = 1 ] && pass "--limit-upload 8M over the config's 1M: ${took}s" ||
	fail "took ${took}s with --limit-upload 8M"
# four pushes of 2 MiB: 8 MiB at 4 MiB/s
run_tool tier-config -s state tier.a.limitDownload 4M
expect_exit 0
timed tier-fsck -s state -q --read-data
expect_exit 0
at_least 1.5 && pass "fsck --read-data reads at the tier's download cap: ${took}s" ||
	fail "fsck --read-data took ${took}s"

step "bad rates: one line, exit 2"
for t in tier-push tier-sync tier-restore tier-fsck; do
	args=()
	[ $t = tier-push ] && args=(src)
	[ $t = tier-restore ] && args=(out2)
	run_tool $t -s state --limit-upload 10Q "${args[@]}"
	expect_exit 2
	expect_stderr_one_line
	expect_stderr_match "'--limit-upload'"
done
run_tool tier-push -s state --limit-download 0 src
expect_exit 2
expect_stderr_one_line
run_tool tier-config -s state tier.a.limitUpload fast
expect_exit 2
expect_stderr_one_line
git config -f state/config tier.a.limitUpload fast
run_tool tier-push -s state src
expect_exit 2
expect_stderr_one_line
expect_stderr_match 'tier.a.limit'
