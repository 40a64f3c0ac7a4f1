#!/usr/bin/env bash
# What the tools draw on a terminal, under a pseudo-terminal (script(1),
# util-linux): tier-status colours its states with real escape sequences
# (ESC kept, not turned into a space), the table lines up on visible width,
# NO_COLOR, TERM=dumb and a pipe give no colour; tier-push draws its
# progress line ("\r", counts with plurals) and no raw escape from a file
# name reaches the terminal.  Labelled "tty": ci/test.sh asan runs it with
# the ASan tools too (the push progress line once read freed memory);
# a second push draws progress toward the last push's totals, with an ETA;
# tier-restore draws progress toward totals counted first, with an ETA;
# so do tier-sync (toward what it plans) and tier-fsck --read-data (toward
# the packs of every tier); none under -q or into a pipe.
. "$(dirname "$0")/../lib.sh"

command -v script >/dev/null || fail "script(1) from util-linux is missing"

# on_tty OUT CMD...: run CMD on a pseudo-terminal (stdout and stderr both),
# what the terminal received in OUT (CR LF line ends as a terminal gets
# them); TT_EXIT is CMD's exit status.
on_tty() {
	local out=$1 cmd=
	shift
	printf -v cmd '%q ' "$@"
	TT_CMD="(tty) $*"
	TT_STDOUT=$out
	TT_STDERR=/dev/null
	TT_EXIT=0
	timeout -k 5 "$TT_TIMEOUT" script -qec "$cmd" /dev/null </dev/null \
		>"$out" 2>&1 || TT_EXIT=$?
}
T=$TIER_TOOLS_DIR
esc=$'\033'
# strip_sgr FILE: FILE without its colour sequences and CRs
strip_sgr() { sed -e 's/\x1b\[[0-9;]*m//g' -e 's/\r//g' "$1"; }
# What stays on the screen: a line redrawn after a carriage return keeps
# only its last drawing (the retry and progress lines are drawn that way).
screen() { sed -e 's/\x1b\[[0-9;]*[mK]//g' -e 's/\r$//' -e 's/.*\r//' "$1"; }

src=$TT_TMP/src
mkdir -p "$src/d"
for i in $(seq 1 40); do head -c 20000 /dev/urandom >"$src/d/f$i"; done
printf x >"$src/evil"$'\033'"[2J"$'\033'"]0;owned"$'\007'
ctl=$TT_TMP/nas.control
: >"$ctl"
run_tool tier-init -s state -t "local=$(file_tier local)" \
	-t "nas=fault+$(file_tier nas)?fault=$ctl"
expect_exit 0

unset NO_COLOR
export TERM=xterm

step "tier-push on a terminal: a progress line, no raw escape from a name"
on_tty push.out "$T/tier-push" -s state "$src"
expect_exit 0
if grep -q $'\r' push.out && strip_sgr push.out | grep -Eq '[0-9]+ files?, .* read'; then
	pass "a progress line was drawn"
else
	fail "no progress line: $(od -c push.out | head -5)"
fi
# the path on the progress line is one being read, never freed memory
bad=$(sed -e 's/\x1b\[[0-9;]*m//g' push.out | tr '\r' '\n' | grep ' new  ' |
	sed -e 's/.* new  //' -e 's/ *$//' | grep -v -e '^$' -e "^\"\?$src" | head -3)
if [ -z "$bad" ]; then
	pass "the progress line names paths under the source"
else
	fail "the progress line shows $(printf '%s' "$bad" | od -c | head -3)"
fi
if strip_sgr push.out | grep -q "$esc"; then
	fail "an escape other than a colour reached the terminal: $(od -c push.out | grep -m3 033)"
else
	pass "no escape but colours"
fi
expect_stdout_no_match 'AddressSanitizer|runtime error'
expect_stdout_match 'revision 2 on 2 of 2 tiers: 41 files'
expect_stdout_no_match '(^|[^0-9])1 (files|tiers|revisions|packs)'

step "tier-push again: progress toward the totals of the last push of the same paths"
on_tty push2.out "$T/tier-push" -s state --reread "$src"
expect_exit 0
if strip_sgr push2.out | tr '\r' '\n' | grep -Eq '^[0-9]+% ETA [-0-9:]+: .* of .*, [0-9]+ of 41 files, .*/s, .* new'; then
	pass "the second push counts toward the first one's files and bytes, with an ETA"
else
	fail "no ETA line: $(strip_sgr push2.out | tr '\r' '\n' | grep -a files | tail -2)"
fi
if strip_sgr push.out | tr '\r' '\n' | grep -q ETA; then
	fail "the first push drew an ETA without a total"
else
	pass "the first push, with no earlier revision, draws counts and a rate only"
fi

step "tier-status on a terminal: colour escapes, aligned table"
echo offline >"$ctl"
on_tty status.out "$T/tier-status" -s state --retries 2 --retry-delay 1
expect_exit 7
expect_stdout_match "${esc}\\[32mok${esc}\\[0m"
expect_stdout_match "${esc}\\[31moffline${esc}\\[0m"
expect_stdout_no_match '\[32mok \[0m'
expect_stdout_no_match ' \[[0-9]+m'
NO_COLOR=1 on_tty plain.out "$T/tier-status" -s state --retries 2 --retry-delay 1
expect_exit 7
if grep -q "$esc" plain.out; then fail "NO_COLOR: escape on the terminal"; else pass "NO_COLOR: no escape"; fi
# the same table, colours aside: alignment counts what shows
if diff <(strip_sgr status.out | grep -v warning) <(strip_sgr plain.out | grep -v warning) >/dev/null; then
	pass "coloured and plain tables line up alike"
else
	fail "coloured table differs from the plain one: $(diff <(strip_sgr status.out) <(strip_sgr plain.out) | head -6)"
fi
# every row as wide as the header up to the REVISION column's end
strip_sgr plain.out | awk '/^TIER /{h=index($0,"REVISION")+7; next}
	h && /^(local|nas) /{ if (substr($0,h,1) !~ /[0-9-]/) bad=1 }
	END{ exit !(h && !bad) }' && pass "REVISION column right-aligned under its header" ||
	fail "REVISION column misaligned: $(strip_sgr plain.out)"
TERM=dumb on_tty dumb.out "$T/tier-status" -s state --retries 2 --retry-delay 1
if grep -q "$esc" dumb.out; then fail "TERM=dumb: escape on the terminal"; else pass "TERM=dumb: no escape"; fi
on_tty pipe.out bash -c "$T/tier-status -s state --retries 2 --retry-delay 1 | cat"
if strip_sgr pipe.out | grep -q "$esc" || grep -q "${esc}\\[32m" pipe.out; then
	fail "stdout a pipe: colour in the table"
else
	pass "stdout a pipe: no colour in the table"
fi
# the offline tier is said once: its name and "offline" once each
n=$(screen status.out | grep -c "warning: .*nas")
w=$(screen status.out | grep "warning: .*nas" | grep -o offline | wc -l)
[ "$n" = 1 ] && [ "$w" -le 2 ] && pass "one warning for the offline tier" ||
	fail "offline warning: $n lines, 'offline' $w times"

step "a push with a tier offline, then tier-sync on a terminal"
printf y >"$src/new"
on_tty push2.out "$T/tier-push" -s state --retries 2 --retry-delay 1 "$src"
expect_exit 0
expect_stdout_no_match 'AddressSanitizer|runtime error'
n=$(screen push2.out | grep -c "warning: .*nas")
[ "$n" = 1 ] && pass "one warning for the skipped tier" || fail "$n warnings for the skipped tier"
if screen push2.out | grep -q "nas.*nas"; then fail "the skipped tier named twice on one line"; else pass "the skipped tier named once"; fi
: >"$ctl"
on_tty sync.out "$T/tier-sync" -s state
expect_exit 0
expect_stdout_no_match 'AddressSanitizer|runtime error'
expect_stdout_match 'replayed 1 revision onto 1 tier: 1 pack \([0-9.]+ [KMG]?i?B\) and '
# progress toward what the sync plans (tier-status's SYNC WOULD MOVE)
if sed -e 's/\x1b\[[0-9;]*[mK]//g' sync.out | tr '\r' '\n' |
	grep -Eq "^syncing 'nas': [0-9]+% ETA [-0-9:]+: [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B, [01] of 1 revision, [0-9.]+ [KMG]?i?B/s"; then
	pass "tier-sync draws progress toward the totals, with an ETA and a rate"
else
	fail "no sync progress line with totals: $(tr '\r' '\n' <sync.out | head -3)"
fi

step "tier-sync -q and tier-sync into a pipe draw no progress"
echo offline >"$ctl"
printf z >"$src/new2"
run_tool tier-push -s state --retries 2 --retry-delay 1 "$src"
expect_exit 0
: >"$ctl"
on_tty sync-q.out "$T/tier-sync" -q -s state
expect_exit 0
if grep -q 'ETA' sync-q.out; then fail "-q drew a progress line"; else pass "-q draws no sync progress"; fi
echo offline >"$ctl"
printf w >"$src/new3"
run_tool tier-push -s state --retries 2 --retry-delay 1 "$src"
: >"$ctl"
run_tool tier-sync -s state
expect_exit 0
expect_stderr_no_match 'ETA'
expect_stderr_match 'replayed 1 revision'

step "tier-fsck --read-data on a terminal: packs and bytes of every tier, rate, ETA"
on_tty fsck.out "$T/tier-fsck" -s state --read-data
expect_exit 0
expect_stdout_no_match 'AddressSanitizer|runtime error'
if sed -e 's/\x1b\[[0-9;]*[mK]//g' fsck.out | tr '\r' '\n' |
	grep -Eq "^reading '(local|nas)': [0-9]+% ETA [-0-9:]+: [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B, [0-9]+ of [0-9]+ packs?, [0-9.]+ [KMG]?i?B/s"; then
	pass "tier-fsck --read-data draws progress toward the totals"
else
	fail "no fsck progress line with totals: $(tr '\r' '\n' <fsck.out | head -3)"
fi
# the total is every pack of both tiers: what the summary says it read
packs=$(screen fsck.out | sed -n 's/^checked 2 of 2 tiers, \([0-9]*\) packs (\([0-9]*\) read.*/\2/p')
if [ -n "$packs" ] && tr '\r' '\n' <fsck.out | grep -q " of $packs packs"; then
	pass "the meter's total is the $packs packs fsck read"
else
	fail "meter total vs summary: $(strip_sgr fsck.out | grep checked) / $(tr '\r' '\n' <fsck.out | grep -o 'of [0-9]* packs' | head -1)"
fi
expect_stdout_match 'checked 2 of 2 tiers, [0-9]+ packs \([0-9]+ read'
on_tty fsck-q.out "$T/tier-fsck" -q -s state --read-data
expect_exit 0
if grep -q 'ETA' fsck-q.out; then fail "-q drew a progress line"; else pass "-q draws no fsck progress"; fi
run_tool tier-fsck -s state --read-data
expect_exit 0
expect_stderr_no_match 'ETA'

step "tier-restore on a terminal: progress toward the totals, with an ETA; -q and a pipe draw none"
on_tty restore.out "$T/tier-restore" -s state rst
expect_exit 0
expect_stdout_no_match 'AddressSanitizer|runtime error'
if sed -e 's/\x1b\[[0-9;]*m//g' restore.out | tr '\r' '\n' | grep -Eq '^restoring revision [0-9]+: [0-9]+% ETA [-0-9:]+: .* of .*, [0-9]+ of [0-9]+ files'; then
	pass "the progress line counts toward the totals, with an ETA"
else
	fail "no progress line with totals: $(tr '\r' '\n' <restore.out | head -3)"
fi
expect_stdout_match 'restored revision [0-9]+: [0-9]+ files'
on_tty restore-q.out "$T/tier-restore" -q -s state rst-q
expect_exit 0
if grep -q 'ETA' restore-q.out; then fail "-q drew a progress line"; else pass "-q draws no progress line"; fi
run_tool tier-restore -s state rst-pipe
expect_exit 0
expect_stderr_no_match 'ETA'
