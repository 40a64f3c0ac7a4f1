#!/usr/bin/env bash
# tier-forget (SPEC 7): 40 revisions pushed with --time one day apart, a
# change each day; --dry-run says keep/remove and why and writes nothing;
# the forget is one logged revision on every tier (stock git reads its
# Tier-Forget trailers), the kept set is restic's for the same policy
# (daily 7, weekly 4, monthly 6: computed here from the calendar), every
# kept revision restores byte for byte, a forgotten one is one line, exit
# 1, naming the forget; tier-log shows it forgotten, tier-find skips it;
# a tier offline during the forget gets it from tier-sync; the policy from
# the config; bad input one line, exit 2, nothing written.
. "$(dirname "$0")/../lib.sh"

export TZ=UTC
mkdir -p src
ctl=$TT_TMP/b.control
: >"$ctl"
run_tool tier-init -s state -t "a=$(file_tier a)" -t "b=fault+$(file_tier b)?fault=$ctl"
expect_exit 0
log_git() { git --git-dir="$TT_TMP/tiers/$1/log.git" "${@:2}"; }

step "40 daily revisions, 2026-01-01 to 2026-02-09, each with its own file"
declare -A rev_of day_of
for i in $(seq 0 39); do
	day=$(date -u -d "2026-01-01 +$i days" +%F)
	printf 'day %s\n' "$day" >"src/$day.txt"
	printf '%s\n' "$day" >src/today
	"$TIER_TOOLS_DIR/tier-push" -q -s state --time "${day}T10:00:00Z" src >push.out 2>push.err ||
		fail "push of $day: $(cat push.err)"
	r=$(cat push.out)
	rev_of[$day]=$r
	day_of[$r]=$day
	mkdir -p "want/$r" && cp -a src "want/$r/"
done
pass "40 pushes"
before=$(log_git a rev-list --count HEAD)

# What restic keeps for --keep-daily 7 --keep-weekly 4 --keep-monthly 6 on
# one revision a day: the last 7 days; the newest of each of the last 4
# ISO weeks; the newest of each of the last 6 months that have one.
want_keep=$(
	for i in $(seq 39 -1 0); do date -u -d "2026-01-01 +$i days" +%F; done |
		awk -v cmd="date -u +%G-W%V -d" '
		{ d[NR] = $1; c = cmd " " $1; c | getline w[NR]; close(c); m[NR] = substr($1, 1, 7) }
		END {
			for (i = 1; i <= NR; i++) {
				k = 0
				if (nd < 7) { nd++; k = 1 }
				if (nw < 4 && w[i] != lw) { nw++; lw = w[i]; k = 1 }
				if (nm < 6 && m[i] != lm) { nm++; lm = m[i]; k = 1 }
				if (k) print d[i]
			}
		}' | sort | tr '\n' ' '
)

step "--dry-run: each revision with keep or remove and the rule, nothing written"
run_tool tier-forget -s state -n --keep-daily 7 --keep-weekly 4 --keep-monthly 6
expect_exit 0
expect_stdout_match "^keep +${rev_of[2026-02-09]}  2026-02-09 10:00:00 \\+0000  daily, weekly, monthly, newest$"
expect_stdout_match "^remove +${rev_of[2026-01-20]}  2026-01-20 10:00:00 \\+0000  $"
expect_stderr_match "would forget [0-9]+ revisions, keep [0-9]+ \\(dry run: nothing written\\)"
[ "$(log_git a rev-list --count HEAD)" = "$before" ] && pass "no revision written" ||
	fail "a dry run wrote"
got_keep=$(awk '$1 == "keep" { print $2 }' "$TT_STDOUT" | while read -r r; do echo "${day_of[$r]}"; done | sort | tr '\n' ' ')
[ "$got_keep" = "$want_keep" ] && pass "the kept days are restic's: $got_keep" ||
	fail "kept $got_keep, restic keeps $want_keep"
run_tool tier-forget -s state -n --json --keep-daily 7 --keep-weekly 4 --keep-monthly 6
expect_exit 0
expect_json '.keep | length' "$(wc -w <<<"$want_keep")"
expect_json '.remove | length' "$((40 - $(wc -w <<<"$want_keep")))"
expect_json '.revision' null
expect_json '.keep[0].reasons | join(",")' daily,weekly,monthly,newest

step "the forget, with tier b offline: one revision on a, named in its trailers"
echo offline >"$ctl"
run_tool tier-forget -s state --retries 2 --retry-delay 1 --keep-daily 7 --keep-weekly 4 --keep-monthly 6
expect_exit 0
expect_stderr_match "forgot [0-9]+ revisions, keep [0-9]+: revision [0-9]+ on 1 of 2 tiers"
frev=$(log_git a rev-list --count HEAD)
[ "$frev" = "$((before + 1))" ] && pass "one new revision ($frev)" || fail "revisions $before -> $frev"
body=$(log_git a log -1 --format=%B)
grep -q '^Tier-Op: forget$' <<<"$body" && grep -q '^Tier-Forget: [0-9]*-[0-9]*$' <<<"$body" &&
	pass "stock git reads Tier-Op: forget and Tier-Forget ranges" || fail "trailers: $body"
gone=${rev_of[2026-01-20]}
kept_old=${rev_of[2026-01-31]}
[ -n "$kept_old" ] && grep -q "2026-01-31" <<<"$want_keep" || fail "2026-01-31 should be a monthly keep"

step "tier b comes back: tier-sync gives it the forget"
: >"$ctl"
run_tool tier-sync -s state
expect_exit 0
[ "$(log_git b rev-parse HEAD)" = "$(log_git a rev-parse HEAD)" ] && pass "b holds the forget revision" ||
	fail "b at $(log_git b rev-list --count HEAD)"
run_tool tier-restore -t "b=$(file_tier b)" -r "$gone" out-b
expect_exit 1
expect_stderr_match "forgotten by revision $frev"

step "a forgotten revision: one line naming the forget, exit 1; kept ones restore"
run_tool tier-restore -s state -r "$gone" out-gone
expect_exit 1
expect_stderr_one_line
expect_stderr_match "revision $gone was forgotten by revision $frev \\(tier-forget\\); its data may be gone"
run_tool tier-ls -s state -r "$gone" /
expect_exit 1
expect_stderr_match "forgotten by revision $frev"
run_tool tier-cat -s state -r "$gone" "$TT_TMP/src/today"
expect_exit 1
for day in $want_keep; do
	r=${rev_of[$day]}
	"$TIER_TOOLS_DIR/tier-restore" -q -s state -r "$r" "out-$r" 2>/dev/null &&
		diff -r "want/$r/src" "out-$r/$TT_TMP/src" >/dev/null || fail "revision $r ($day) does not restore"
done
pass "every kept revision restores byte for byte"

step "tier-log shows forgotten revisions, tier-find skips them"
run_tool tier-log -s state
expect_exit 0
expect_stdout_match "^ +$gone  2026-01-20 10:00:00 \\+0000  push \\(forgotten by $frev\\) "
expect_stdout_match "^ +$kept_old  2026-01-31 10:00:00 \\+0000  push  "
run_tool tier-log -s state --json
expect_json ".revisions[] | select(.revision == $gone) | .forgotten_by" "$frev"
expect_json ".revisions[] | select(.revision == $kept_old) | .forgotten_by" null
run_tool tier-find -s state 2026-01-05.txt
expect_exit 0
expect_stdout_no_match "^revision $gone "
expect_stdout_match "^revision $kept_old "

step "again with the same policy: nothing to forget, nothing written"
run_tool tier-forget -s state --keep-daily 7 --keep-weekly 4 --keep-monthly 6
expect_exit 0
expect_stderr_match "nothing to forget"
[ "$(log_git a rev-list --count HEAD)" = "$frev" ] && pass "no revision written" || fail "wrote again"

step "the policy from the config"
run_tool tier-config -s state forget.keepLast 2
expect_exit 0
run_tool tier-forget -s state -n --json
expect_exit 0
expect_json '.keep | length' 2
expect_json '[.keep[].reasons[0]] | join(",")' last,last

step "bad input: one line, exit 2, nothing written"
run_tool tier-config -s state --unset forget.keepLast
for args in "" "--keep-daily x" "--keep-daily -2" "--keep-within 3x" "--keep-within 1d2y"; do
	# shellcheck disable=SC2086
	run_tool tier-forget -s state $args
	expect_exit 2
	expect_stderr_one_line
done
[ "$(log_git a rev-list --count HEAD)" = "$frev" ] && pass "nothing written" || fail "a bad forget wrote"

step "tier-archive: an archived revision outlives every policy until released"
old=${rev_of[2026-01-10]}
run_tool tier-archive -s state "$old" --name ten
expect_exit 1
expect_stderr_match "revision $old was forgotten by revision $frev"
run_tool tier-archive -s state "$kept_old" --name month-end
expect_exit 0
arev=$(last_stdout)
log_git a log -1 --format=%B | grep -q "^Tier-Archive: $kept_old month-end$" &&
	pass "Tier-Archive trailer" || fail "trailers: $(log_git a log -1 --format=%B)"
run_tool tier-archive -s state "$kept_old" --name month-end
expect_exit 1
expect_stderr_one_line
expect_stderr_match "archive 'month-end' exists already"
run_tool tier-archive -s state "$arev" --name x
expect_exit 1
expect_stderr_match "is not a push"
run_tool tier-archive -s state 3 --name 'a b'
expect_exit 2
expect_stderr_one_line
run_tool tier-archive -s state --list --json
expect_exit 0
expect_json '[.archives[] | "\(.name)=\(.revision)"] | join(",")' "month-end=$kept_old"
run_tool tier-forget -s state --keep-last 1
expect_exit 0
run_tool tier-log -s state
expect_stdout_match "^ +$kept_old  2026-01-31 10:00:00 \\+0000  push \\(archived as month-end\\) "
run_tool tier-restore -q -s state -r "$kept_old" out-arch
expect_exit 0
diff -r "want/$kept_old/src" "out-arch/$TT_TMP/src" >/dev/null && pass "the archived revision restores" ||
	fail "the archived revision differs"
run_tool tier-archive -s state --release month-end
expect_exit 0
run_tool tier-archive -s state --release month-end
expect_exit 1
expect_stderr_match "no archive 'month-end'"
run_tool tier-forget -s state --json --keep-last 1
expect_exit 0
expect_json '[.remove[].revision] | join(",")' "$kept_old"
run_tool tier-restore -s state -r "$kept_old" out-gone2
expect_exit 1
expect_stderr_match "forgotten by revision"
