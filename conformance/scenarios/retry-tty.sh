#!/usr/bin/env bash
# Issue 13.8: retries are visible.  On a terminal (under script(1), a
# pseudo-terminal) each retry redraws one line "tier 'srv': attempt 3/10,
# next in 1.6 s (...)"; with -v every retry is a line of its own; with
# neither (cron, a log file) stderr gets none of them.
. "$(dirname "$0")/../conf.sh"

command -v script >/dev/null || skip "no script(1) for a pseudo-terminal"
conf_init

# on_tty OUT CMD...: run CMD on a pseudo-terminal, its output (stdout and
# stderr, as the terminal got them) in OUT
on_tty() {
	local out=$1 cmd
	shift
	printf -v cmd '%q ' "$@"
	TT_EXIT=0
	timeout -k 5 60 script -qec "$cmd" /dev/null >"$out" 2>&1 </dev/null || TT_EXIT=$?
}
# expect_in FILE ERE: the terminal output matches
expect_in() {
	if grep -Eq -- "$2" "$1"; then pass "terminal shows /$2/"; else
		fail "terminal output lacks /$2/: $(tr '\r' '\n' <"$1" | head -c 2000)"
	fi
}

# port 1 (tcpmux): nothing listens, every connection is refused at once
DEAD=ftp://u:pw-x1@127.0.0.1:1/x

step "tier-status on a terminal, the server refusing connections"
on_tty "$TT_TMP/status.tty" "$TIER_TOOLS_DIR/tier-status" --retries 4 --retry-delay 300 -t "srv=$DEAD"
check "tier-status reports the offline tier (exit $TT_EXIT)" [ "$TT_EXIT" = 7 ]
expect_in "$TT_TMP/status.tty" $'\r'"tier 'srv': attempt 1/4, next in [0-9]+ ms \\("
expect_in "$TT_TMP/status.tty" $'\r'"tier 'srv': attempt 3/4, next in ([0-9]+ ms|[0-9]\\.[0-9] s) \\("
expect_in "$TT_TMP/status.tty" "tier 'srv': attempt 4/4 failed, giving up"
n=$(tr '\r' '\n' <"$TT_TMP/status.tty" | grep -c "tier 'srv': attempt")
check "one redraw per attempt, on one line ($n redraws, no newline between)" \
	[ "$n" = 4 ] && [ "$(grep -c "attempt 1/4" "$TT_TMP/status.tty")" = 1 ]
check "no password on the terminal" [ "$(grep -c 'pw-x1' "$TT_TMP/status.tty")" = 0 ]

step "tier-push on a terminal with the server tier offline"
srv_fault offline
on_tty "$TT_TMP/push.tty" "$TIER_TOOLS_DIR/tier-push" --retries 3 --retry-delay 300 -s state "$SRC"
check "the push goes to the local tier (exit $TT_EXIT)" [ "$TT_EXIT" = 0 ]
expect_in "$TT_TMP/push.tty" $'\r'"tier 'server': attempt 1/3, next in [0-9]+ ms"
srv_ok

step "-v without a terminal: every retry on a line of its own"
tool tier-status -v --retries 3 --retry-delay 1 -t "srv=$DEAD"
expect_exit 7
expect_stderr_match "^tier-status: tier 'srv': attempt 1/3, next in [0-9]+ ms \\(get '[^']*': offline: "
expect_stderr_match "^tier-status: tier 'srv': attempt 3/3 failed, giving up"

step "neither: no retry lines in a log"
tool tier-status --retries 3 --retry-delay 1 -t "srv=$DEAD"
expect_exit 7
expect_stderr_no_match "attempt [0-9]+/"
