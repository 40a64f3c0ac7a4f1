#!/usr/bin/env bash
# tier-push --tag (repeatable), --message, --time (SPEC section 9): stored
# as trailers / the author time of the revision's commit, shown by tier-log
# in text and --json, found with tier-log --tag; push.tag from the config;
# bad values are one line, exit 2, nothing pushed (and no pre-hook run).
# A plaintext vault: it reads the trailers in plain text with stock git.
export TT_ENCRYPTION=none
. "$(dirname "$0")/../lib.sh"

mkdir -p src
printf 'one\n' >src/a
url=$(file_tier a)
run_tool tier-init -s state -t "a=$url"
expect_exit 0
log_git() { git --git-dir="$TT_TMP/tiers/a/log.git" "$@"; }

step "tags, a message and a time recorded in the commit"
run_tool tier-push -s state --tag daily --tag db --tag daily \
	--message 'before the upgrade to 2.0' --time 2025-06-30T22:15:00+02:00 src
expect_exit 0
r2=$(last_stdout)
body=$(log_git log -1 --format=%B)
[ "$(grep -c '^Tier-Tag: daily$' <<<"$body")" = 1 ] && grep -q '^Tier-Tag: db$' <<<"$body" &&
	pass "Tier-Tag trailers, a repeated tag once" || fail "trailers: $body"
grep -q '^Tier-Message: before the upgrade to 2.0$' <<<"$body" &&
	pass "Tier-Message trailer" || fail "trailers: $body"
[ "$(log_git log -1 --format=%aI)" = 2025-06-30T22:15:00+02:00 ] &&
	pass "author time is --time" || fail "author time $(log_git log -1 --format=%aI)"
[ "$(log_git log -1 --format=%ct)" -ge "$(($(date +%s) - 600))" ] &&
	pass "committer time is when it was written" || fail "committer time $(log_git log -1 --format=%cI)"
[ "$(log_git interpret-trailers --parse <<<"$body" | grep -c '^Tier-')" -ge 8 ] &&
	pass "git itself parses the trailers" || fail "git interpret-trailers"

run_tool tier-push -s state --tag weekly src
expect_exit 0
r3=$(last_stdout)
run_tool tier-push -s state src
expect_exit 0
r4=$(last_stdout)

step "tier-log shows them, text and --json"
run_tool tier-log -s state
expect_exit 0
expect_stdout_match '^REVISION .* TAGS +MESSAGE +PATHS$'
expect_stdout_match "^ +$r2  2025-06-30 20:15:00 \\+0000 .*daily, db +before the upgrade to 2.0 +$TT_TMP/src\$"
expect_stdout_match "^ +$r4 .* - +- +$TT_TMP/src\$"
run_tool tier-log -s state --json
expect_exit 0
expect_json ".revisions[] | select(.revision == $r2) | .tags | join(\",\")" daily,db
expect_json ".revisions[] | select(.revision == $r2) | .message" 'before the upgrade to 2.0'
expect_json ".revisions[] | select(.revision == $r2) | .time" 2025-06-30T20:15:00+00:00
expect_json ".revisions[] | select(.revision == $r4) | .tags | length" 0
expect_json ".revisions[] | select(.revision == $r4) | has(\"message\")" false

step "tier-log --tag filters: a list is 'and', a repeat is 'or'"
run_tool tier-log -s state --json --tag db
expect_json '[.revisions[].revision] | map(tostring) | join(" ")' "$r2"
run_tool tier-log -s state --json --tag daily,weekly
expect_json '.revisions | length' 0
run_tool tier-log -s state --json --tag daily --tag weekly
expect_json '[.revisions[].revision] | map(tostring) | join(" ")' "$r3 $r2"
run_tool tier-log -s state --json --tag daily --tag weekly -n 1
expect_json '[.revisions[].revision] | map(tostring) | join(" ")' "$r3"
run_tool tier-log -s state --tag nothing-has-this
expect_exit 0
expect_stdout_match '^REVISION'
expect_stdout_no_match 'push'

step "push.tag in the config: added to every push"
run_tool tier-config -s state --add push.tag host-a
expect_exit 0
run_tool tier-push -s state --tag manual src
expect_exit 0
r5=$(last_stdout)
run_tool tier-log -s state --json "$r5"
expect_json '.revisions[0].tags | join(",")' host-a,manual

step "bad values: one line, exit 2, no revision, no pre-hook"
run_tool tier-config -s state hooks.prePush 'touch "$TIER_STATE_DIR/../hook-ran"'
expect_exit 0
for bad in "--tag=a b" "--tag=a,b" "--tag=" "--time=2026-02-30" "--time=yesterday" \
	"--time=2026-12-04T25:00" "--time=2026-12-04T10:00+1" "--message=$(printf 'two\nlines')"; do
	run_tool tier-push -s state "$bad" src
	expect_exit 2
	expect_stderr_one_line
	expect_stdout_empty
done
expect_stderr_match "option '--message'"
[ ! -e hook-ran ] && pass "the pre-hook never ran" || fail "the pre-hook ran for a bad flag"
run_tool tier-log -s state --json -n 1
expect_json '.revisions[0].revision' "$r5"

step "times with and without a zone"
run_tool tier-config -s state --unset hooks.prePush
expect_exit 0
TZ=Europe/Berlin run_tool tier-push -s state --time '2026-01-15 08:00' src
expect_exit 0
[ "$(log_git log -1 --format=%aI)" = 2026-01-15T08:00:00+01:00 ] &&
	pass "local time, TZ's zone" || fail "author time $(log_git log -1 --format=%aI)"
run_tool tier-push -s state --time 2026-01-15 src
expect_exit 0
[ "$(log_git log -1 --format=%aI)" = 2026-01-15T00:00:00+00:00 ] &&
	pass "a date alone: midnight" || fail "author time $(log_git log -1 --format=%aI)"
run_tool tier-push -s state --time 2026-01-15T08:00:00.250Z src
expect_exit 0
[ "$(log_git log -1 --format=%at)" = "$(date -d 2026-01-15T08:00:00Z +%s)" ] &&
	pass "a fraction of a second is dropped" || fail "author time $(log_git log -1 --format=%aI)"
