#!/usr/bin/env bash
# tier-push on a terminal (a pseudo-terminal from script(1)): the progress
# line names the path being read, never freed memory (issue 13 point 3: a
# heap-use-after-free under ASan, garbage in release builds).  Run by the
# ASan build's ctest too, where a bad read ends the tool with a report.
. "$(dirname "$0")/../lib.sh"

command -v script >/dev/null || skip "no script(1) for a pseudo-terminal"
src=$TT_TMP/src
for i in $(seq 1 60); do
	mkdir -p "$src/dir$i/sub"
	echo "$i" >"$src/dir$i/sub/file$i"
done
a_url=$(file_tier a)
run_tool tier-init -s state -t "a=$a_url"
expect_exit 0

step "push on a pseudo-terminal"
out=$TT_TMP/tty.out
TT_CMD="script -qec 'tier-push -s state $src' /dev/null"
TT_STDOUT=$out
TT_STDERR=/dev/null
TT_EXIT=0
# a wide terminal: the line is not cut to 80 columns
TERM=dumb timeout -k 5 "$TT_TIMEOUT" script -qec "stty cols 500; '$TIER_TOOLS_DIR/tier-push' -s '$TT_TMP/state' '$src'" /dev/null \
	</dev/null >"$out" 2>&1 || TT_EXIT=$?
expect_exit 0
expect_stdout_no_match "AddressSanitizer|runtime error"
# the progress line: counts, then the current path, under the source
expect_stdout_match "[0-9]+ files, .* read, .* new  $src/dir[0-9]+"
# every byte of the progress path is the path's (no garbage after it)
bad=$(tr '\r' '\n' <"$out" | grep -a ' new  ' | grep -av " new  $src/dir[0-9]*\(/sub\(/file[0-9]*\)\?\)\?[[:space:]]*$" | head -n 3)
if [ -z "$bad" ]; then pass "progress lines name real paths"; else fail "progress line with garbage: $(printf %q "$bad")"; fi
lines=$TT_TMP/tty.lines
tr '\r' '\n' <"$out" >"$lines"
if grep -aqx '2[[:space:]]*' "$lines"; then pass "the revision is printed"; else fail "no revision on stdout"; fi
