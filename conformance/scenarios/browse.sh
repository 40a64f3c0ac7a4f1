#!/usr/bin/env bash
# Browsing without restoring (issue 18): three revisions, a file deleted in
# the last; tier-find finds it in the older ones, tier-cat gives its exact
# bytes, tier-ls -R lists the tree as find(1) sees the source; with the
# first tier offline or its packs gone, tier-cat reads from the second (R2);
# -t alone works; bad input is one line and the exit of SPEC 5.
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/docs/deep/er" "$src/empty"
head -c 700000 /dev/urandom >"$src/docs/letter.odt"
printf 'keep me\n' >"$src/keep.txt"
printf 'x\n' >"$src/docs/deep/er/.hidden"
printf 'sp\n' >"$src/docs/with space"
ln -s keep.txt "$src/link"
cp "$src/docs/letter.odt" "$TT_TMP/letter.want"

ctl=$TT_TMP/a.control
: >"$ctl"
a_url="fault+$(file_tier a)?fault=$ctl"
b_url=$(file_tier b)
fast=(--retries 2 --retry-delay 1)

step "three revisions; the letter is deleted in the last"
run_tool tier-init -s state -t "a=$a_url" -t "b=$b_url"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0
printf 'more\n' >>"$src/keep.txt"
run_tool tier-push -s state "$src"
expect_exit 0
rm "$src/docs/letter.odt"
run_tool tier-push -s state "$src"
expect_exit 0
expect_stdout_match '^4$'

step "tier-find: the deleted file is in revisions 3 and 2, not 4"
run_tool tier-find -s state letter.odt
expect_exit 0
expect_stdout_match '^revision 3 \('
expect_stdout_match '^revision 2 \('
expect_stdout_no_match '^revision 4 '
expect_stdout_match " 700000 .* $src/docs/letter.odt\$"
expect_stderr_match '2 matches in 2 revisions'
run_tool tier-find -s state --json '*.odt'
expect_json '[.revisions[].revision] | join(",")' "3,2"
expect_json '.revisions[0].matches[0].size' 700000
run_tool tier-find -s state -r 4 -r 2 "$src/docs/*.odt"
expect_exit 0
expect_stdout_match '^revision 2 '
expect_stdout_no_match '^revision [34] '
run_tool tier-find -s state nothing-like-it
expect_exit 0
expect_stdout_empty

step "tier-cat: the exact bytes of the deleted file"
run_tool tier-cat -s state -r 3 "$src/docs/letter.odt"
expect_exit 0
if cmp -s "$TT_STDOUT" "$TT_TMP/letter.want"; then pass "tier-cat -r 3 gives the letter byte for byte"; else fail "tier-cat -r 3 differs from the letter"; fi
run_tool tier-cat -s state "${src#/}/keep.txt"
expect_exit 0
if [ "$(cat "$TT_STDOUT")" = "$(cat "$src/keep.txt")" ]; then pass "a path without its leading / is the same path"; else fail "keep.txt differs"; fi

step "tier-ls -R equals find(1) of the source: names, types, sizes"
run_tool tier-ls -s state -R --json "$src"
expect_exit 0
jq -r '.entries[] | "\(.path)\t\(.type)\t\(if .type == "file" then .size else "-" end)"' "$TT_STDOUT" | sort >ls.txt
(cd / && find "${src#/}" -mindepth 1 -printf '/%p\t%y\t%s\n') |
	awk -F'\t' -v OFS='\t' '{t = $2 == "f" ? "file" : $2 == "d" ? "dir" : $2 == "l" ? "symlink" : $2; print $1, t, (t == "file" ? $3 : "-")}' | sort >find.txt
if cmp -s ls.txt find.txt; then pass "tier-ls -R lists what find lists ($(wc -l <ls.txt) entries)"; else fail "tier-ls -R differs from find: $(diff ls.txt find.txt | head -5 | tr '\n' ' ')"; fi
run_tool tier-ls -s state -R "$src"
expect_exit 0
expect_stdout_match "^lrwxrwxrwx .* $src/link -> keep.txt\$"
expect_stdout_match "^-rw.* $src/docs/deep/er/.hidden\$"
expect_stdout_match "^d.* \"?$src/docs/deep\"?\$"
run_tool tier-ls -s state "$src"
expect_exit 0
expect_stdout_match ' keep.txt$'
expect_stdout_match ' docs$'
expect_stdout_no_match 'letter'
run_tool tier-ls -s state -r 3 "$src/docs"
expect_stdout_match ' 700000 .* letter.odt$'

step "the first tier's packs gone: tier-cat reads from the second, reports it"
mkdir -p moved
mv "$TT_TMP/tiers/a/data"/* moved/
run_tool tier-cat -s state -r 3 "$src/docs/letter.odt"
expect_exit 0
if cmp -s "$TT_STDOUT" "$TT_TMP/letter.want"; then pass "bytes read from tier b"; else fail "bytes differ with tier a's packs gone"; fi
expect_stderr_match "tier 'a': pack .* is missing; read from tier 'b'"
mv moved/* "$TT_TMP/tiers/a/data/"

step "the first tier offline: tier-cat reads from the second"
echo offline >"$ctl"
run_tool tier-cat -s state "${fast[@]}" -r 3 "$src/docs/letter.odt"
expect_exit 0
if cmp -s "$TT_STDOUT" "$TT_TMP/letter.want"; then pass "bytes read with tier a offline"; else fail "bytes differ with tier a offline"; fi
expect_stderr_match "tier 'a'"
run_tool tier-ls -s state "${fast[@]}" -R "$src"
expect_exit 0
expect_stdout_match "keep.txt"
: >"$ctl"

step "no installation: -t URL alone"
run_tool tier-find -t "b=$b_url" letter.odt
expect_exit 0
expect_stdout_match '^revision 3 '
run_tool tier-cat -t "b=$b_url" -r 2 "$src/docs/letter.odt"
expect_exit 0
if cmp -s "$TT_STDOUT" "$TT_TMP/letter.want"; then pass "tier-cat -t alone"; else fail "tier-cat -t alone differs"; fi
run_tool tier-ls -t "b=$b_url" "$src/docs"
expect_exit 0
expect_stdout_match ' with space'

step "bad input: one line, the exit of SPEC 5, nothing on stdout"
run_tool tier-cat -s state "$src/docs/letter.odt"
expect_exit 1
expect_stderr_one_line
expect_stderr_match "'$src/docs/letter.odt' is not in revision 4"
expect_stdout_empty
run_tool tier-cat -s state "$src/docs"
expect_exit 1
expect_stderr_one_line
expect_stderr_match "is a directory"
expect_stdout_empty
run_tool tier-cat -s state "$src/link"
expect_exit 1
expect_stderr_match "is a symlink"
run_tool tier-cat -s state -r 9 "$src/keep.txt"
expect_exit 1
expect_stderr_one_line
expect_stderr_match 'revision 9 does not exist \(latest is 4\)'
run_tool tier-ls -s state -r 9
expect_exit 1
expect_stderr_one_line
run_tool tier-ls -s state /no/such/dir
expect_exit 1
expect_stderr_one_line
expect_stderr_match "'/no/such/dir' is not in revision 4"
expect_stdout_empty
run_tool tier-ls -s state ../etc
expect_exit 2
expect_stderr_one_line
run_tool tier-find -s state -r 9 x
expect_exit 1
expect_stderr_one_line
expect_stdout_empty
run_tool tier-find -s state -r zero x
expect_exit 2
expect_stderr_one_line
run_tool tier-find -s state
expect_exit 2
expect_stderr_one_line
run_tool tier-cat -s state
expect_exit 2
expect_stderr_one_line
