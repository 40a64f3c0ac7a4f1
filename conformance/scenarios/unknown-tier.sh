#!/usr/bin/env bash
# Issue 12 point 11: with an installation, -t picks among the tiers it knows.
# An unknown name is a usage error (exit 2, one line naming it and the known
# ones) and creates nothing: no ref in the cache, nothing on the tier.
. "$(dirname "$0")/../lib.sh"

mkdir -p src
printf 'x\n' >src/f
a_url=$(file_tier a)
b_url=$(file_tier b)
run_tool tier-init -s state -t "a=$a_url" -t "b=$b_url"
expect_exit 0

mkdir -p tiers/bogus
for tool in tier-push tier-sync tier-status tier-log tier-fsck tier-restore; do
	args=()
	case $tool in
	tier-push) args=(--wait-timeout 0 "$TT_TMP/src") ;;
	tier-restore) args=(out) ;;
	esac
	run_tool "$tool" -s state -t "bogus=file://$TT_TMP/tiers/bogus" \
		"${args[@]}"
	expect_exit 2
	expect_stderr_one_line
	expect_stderr_match "^$tool: tier 'bogus' is not a tier of installation 'state' \(its tiers: 'a', 'b'\)"
	expect_stdout_empty
done
if [ -e state/cache.git/refs/tiers/bogus ]; then
	fail "refs/tiers/bogus created"
else
	pass "no ref for the unknown tier"
fi
if [ -z "$(ls -A tiers/bogus)" ]; then pass "nothing written to it"; else fail "written: $(ls -A tiers/bogus)"; fi
if [ -e out ]; then fail "tier-restore created DEST"; else pass "no DEST"; fi

step "known names still pick tiers, in the order given"
run_tool tier-push -s state -t "b=$b_url" "$TT_TMP/src"
expect_exit 0
expect_stdout_match '^2$'
run_tool tier-status -s state -t "b=$b_url" -t "a=$a_url" --json
expect_json '.tiers[0].name' b
