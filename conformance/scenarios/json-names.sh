#!/usr/bin/env bash
# File names with an escape sequence, a newline and bytes that are not
# UTF-8: tier-log's text quotes them as git does (core.quotePath), so no
# raw ESC or newline of a name reaches the terminal; --json carries every
# path (the exact bytes in "path_b64" when a name is not UTF-8) and its
# counts match the changes listed.  docs/json.md.
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src"
printf 1 >"$src/plain"
printf 2 >"$src/esc"$'\033'"[31mred"
printf 3 >"$src/new"$'\n'"line"
printf 4 >"$src/bad"$'\377\376'"name"
printf 5 >"$src/caf"$'\303\251'
ln -s "new"$'\n'"target" "$src/link"$'\033'"]0;title"$'\007'
nfiles=6

run_tool tier-init -s state -t "local=$(file_tier local)"
expect_exit 0
run_tool tier-push -s state --json "$src"
expect_exit 0
expect_json .stats.files "$nfiles"

# has_byte FILE OCTAL: whether FILE holds that byte anywhere
has_byte() { LC_ALL=C grep -q "$(printf "\\$2")" "$1"; }

step "text: names quoted, no raw ESC, BEL, newline or invalid byte"
for args in "2" "1 2" "--stat"; do
	# shellcheck disable=SC2086
	run_tool tier-log -s state $args
	expect_exit 0
	for b in 033 007 377 376; do
		if has_byte "$TT_STDOUT" "$b"; then
			fail "tier-log $args: stdout holds a raw \\$b"
		else
			pass "tier-log $args: no raw \\$b on stdout"
		fi
	done
done
run_tool tier-log -s state 2
expect_stdout_match '^A  "'"$src"'/esc\\033\[31mred"  \(1 B\)$'
expect_stdout_match '^A  "'"$src"'/new\\nline"  \(1 B\)$'
expect_stdout_match '^A  "'"$src"'/bad\\377\\376name"  \(1 B\)$'
expect_stdout_match '^A  "'"$src"'/caf\\303\\251"  \(1 B\)$'
expect_stdout_match '^A  "'"$src"'/link\\033\]0;title\\a"  '
expect_stdout_match '^A  '"$src"'/plain  \(1 B\)$'
# a header, one row for the revision, one line per file: nothing else
lines=$(wc -l <"$TT_STDOUT")
if [ "$lines" -eq $((2 + nfiles)) ]; then
	pass "one line per file ($lines lines)"
else
	fail "expected $((2 + nfiles)) lines, got $lines"
fi

step "JSON: every path, exact, and the counts agree"
for args in "1 2" "2"; do
	# shellcheck disable=SC2086
	run_tool tier-log -s state --json $args
	expect_exit 0
	expect_json_object
	if [ "$args" = 2 ]; then pre='.revisions[0]'; else pre=''; fi
	expect_json "$pre.changes | length" "$nfiles"
	expect_json "$pre.changes_summary.added" "$nfiles"
	expect_json "[$pre.changes[] | select(.path == null)] | length" 0
	# decode every path (path_b64 wins) and compare with the source's
	# names, byte for byte
	json_get "$pre.changes[] | if .path_b64 then .path_b64 else (.path | @base64) end" |
		while read -r b; do printf '%s' "$b" | base64 -d; printf '\0'; done |
		sort -z >got.names
	(cd "$src" && find . -mindepth 1 -print0 | sed -z "s|^\.|$src|") |
		sort -z >want.names
	if cmp -s got.names want.names; then
		pass "tier-log --json $args: every path, byte for byte"
	else
		fail "tier-log --json $args: paths differ: $(od -c got.names | head -5)"
	fi
	expect_json "[$pre.changes[] | select(.path_b64)] | length" 1
done
