#!/usr/bin/env bash
# What every tier-* tool promises at its door (issues 12 and 13): -h is
# --help; durations take suffixes (500ms, 30s, 2m, 1h) and a bare number in
# the flag's old unit; text output never carries JSON; every flag of
# --help is in the tool's man page, which is built, renders without a
# warning and is found by man(1) after `cmake --install`.
. "$(dirname "$0")/../lib.sh"

build=$(cd "$TIER_TOOLS_DIR/.." && pwd)
tools=()
for exe in "$TIER_TOOLS_DIR"/tier-*; do
	[ -x "$exe" ] && tools+=("$(basename "$exe")")
done
if [ ${#tools[@]} -ge 7 ]; then pass "${#tools[@]} tools built"; else fail "only ${tools[*]}"; fi

step "-h is --help"
for t in "${tools[@]}"; do
	run_tool "$t" --help
	cp "$TT_STDOUT" long.txt
	run_tool "$t" -h
	expect_exit 0
	if cmp -s long.txt "$TT_STDOUT" && [ -s long.txt ]; then
		pass "$t -h prints the --help text"
	else
		fail "$t -h differs from --help"
	fi
done

step "durations"
nowhere="t=file://$TT_TMP/nowhere"
elapsed() { # elapsed ms of run_tool "$@"
	local a b
	a=$(date +%s%N)
	run_tool "$@"
	b=$(date +%s%N)
	echo $(((b - a) / 1000000))
}
ms=$(elapsed tier-status -t "$nowhere" --retries 2 --retry-delay 1)
if [ "$ms" -lt 400 ]; then pass "--retry-delay 1 is 1 ms ($ms ms)"; else fail "--retry-delay 1 took $ms ms"; fi
ms=$(elapsed tier-status -t "$nowhere" --retries 2 --retry-delay 1s)
# the delay is drawn in [d/2, d]
if [ "$ms" -ge 500 ]; then pass "--retry-delay 1s waits ($ms ms)"; else fail "--retry-delay 1s took $ms ms"; fi
for spec in 500ms 30s 2m 1h 1m30s 45; do
	run_tool tier-sync --interval "$spec" --timeout "$spec" --retry-delay "$spec" --help
	expect_exit 0
done
run_tool tier-push --wait-timeout 90s --help
expect_exit 0
for bad in 1.5s 5x -1 s 10sm ''; do
	run_tool tier-sync --interval "$bad"
	expect_exit 2
	expect_stderr_one_line
	expect_stderr_match "^tier-sync: (invalid duration '$bad' for option '--interval' \(write e.g. 500ms, 30s, 2m or 1h\)|option '--interval' needs a value)"
done
run_tool tier-status --timeout 2h -t "$nowhere"
expect_exit 2
expect_stderr_match "duration '2h' out of range for option '--timeout' \(1ms to 1h\)"

step "text output never carries JSON"
for t in "${tools[@]}"; do
	args=()
	case $t in
	tier-push) args=(/nonexistent) ;;
	tier-restore) args=(out) ;;
	esac
	run_tool "$t" -s "$TT_TMP/no-such-state" "${args[@]}"
	expect_stdout_no_match '^[[:space:]]*\{'
done

step "man pages: built, every flag in them, no groff warning"
mandir=$build/man/man1
for t in "${tools[@]}"; do
	page=$mandir/$t.1
	if [ ! -s "$page" ]; then
		fail "no man page $page"
		continue
	fi
	warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	if [ -z "$warn" ]; then pass "$t.1 renders without warnings"; else fail "$t.1: $warn"; fi
	text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
	run_tool "$t" --help
	missing=()
	for flag in $(grep -oE '^ {2,6}(-[a-zA-Z], )?--[a-z][a-z0-9-]*' "$TT_STDOUT" |
		grep -oE -- '--[a-z][a-z0-9-]*'); do
		grep -qF -- "$flag" <<<"$text" || missing+=("$flag")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		pass "$t.1 has every flag of $t --help"
	else
		fail "$t.1 lacks ${missing[*]}"
	fi
done

step "cmake --install puts them where man finds them"
if command -v cmake >/dev/null && [ -f "$build/cmake_install.cmake" ]; then
	DESTDIR=$TT_TMP/dest cmake --install "$build" --prefix /usr >install.log 2>&1 ||
		fail "cmake --install failed: $(tail -n 3 install.log)"
	for t in "${tools[@]}"; do
		if [ -x "$TT_TMP/dest/usr/bin/$t" ] && [ -s "$TT_TMP/dest/usr/share/man/man1/$t.1" ]; then
			pass "$t and $t.1 installed"
		else
			fail "$t or its page not installed"
		fi
	done
	if MANPATH=$TT_TMP/dest/usr/share/man man -w tier-push >where.txt 2>&1 &&
		grep -q "dest/usr/share/man/man1/tier-push.1" where.txt &&
		MANPATH=$TT_TMP/dest/usr/share/man MANWIDTH=80 man tier-push 2>/dev/null |
		grep -qE 'tier-push +- +back +up'; then
		pass "man tier-push finds the installed page"
	else
		fail "man tier-push: $(cat where.txt)"
	fi
else
	skip "no cmake build tree at $build"
fi
