#!/usr/bin/env bash
# Counts mean the same in every tool (docs/glossary.md): a file is every
# non-directory entry (regular files, symlinks, fifos), so push's "N files",
# tier-log's FILES and --stat's ADDED, restore's "N files" and every
# "files" in JSON agree; what tier-status predicts a sync moves is what
# tier-sync reports; plurals are right; an offline tier is one message
# naming it once.
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/d/e" "$src/empty"
printf 'one\n' >"$src/a"
printf 'two\n' >"$src/d/b"
printf 'three\n' >"$src/d/e/c"
ln -s a "$src/l1"
ln -s /nowhere "$src/d/l2"
mkfifo "$src/fifo"
want=6 # 3 regular files, 2 symlinks, 1 fifo; no directory
ctl=$TT_TMP/fault.control
: >"$ctl"
fast=(--retries 2 --retry-delay 1)

run_tool tier-init -s state -t "local=$(file_tier local)" \
	-t "away=fault+$(file_tier store2)?fault=$ctl"
expect_exit 0
expect_stdout_match ' on 2 tiers, '

step "push, log, --stat and restore count the same files"
run_tool tier-push -s state "$src"
expect_exit 0
expect_stderr_match "revision 2 on 2 of 2 tiers: $want files, "
run_tool tier-push -s state --json "$src"
expect_json .stats.files "$want"
expect_json .stats.others 3
run_tool tier-log -s state --json --stat
expect_json '.revisions[] | select(.revision == 2) | .stats.files' "$want"
expect_json '.revisions[] | select(.revision == 2) | .changes_summary.added' "$want"
expect_json '.revisions[] | select(.revision == 3) | .stats.files' "$want"
expect_json '.revisions[] | select(.revision == 3) | .changes_summary.added' 0
run_tool tier-log -s state 1 2 --json
expect_json '.changes | length' "$want"
run_tool tier-log -s state --stat
# REVISION TIME(3 words) OP WHO INST FILES SIZE(2) NEW(2) ADDED ...
row=$(grep -E '^ +2 ' "$TT_STDOUT")
set -- $row
[ "$8" = "$want" ] && [ "${13}" = "$want" ] && pass "FILES $8 = ADDED ${13}" ||
	fail "tier-log --stat row: $row"
run_tool tier-restore -s state out
expect_exit 0
expect_stderr_match "restored revision 3: $want files, "
run_tool tier-restore -s state --json out2
expect_json .stats.files "$want"

step "one file, one tier: singular"
mkdir one
printf x >one/x
run_tool tier-push -s state "$TT_TMP/one"
expect_stderr_match ': 1 file, 1 B '
expect_stderr_no_match '(^|[^0-9])1 (files|tiers|revisions|packs)'

step "an offline tier: said once, naming it once"
echo offline >"$ctl"
printf more >"$src/a"
run_tool tier-push -s state "${fast[@]}" "$src"
expect_exit 0
n=$(grep -c away "$TT_STDERR")
[ "$n" = 1 ] && pass "one line names the tier" || fail "$n lines name tier away"
expect_stderr_no_match "away.*away"
run_tool tier-status -s state "${fast[@]}"
expect_exit 7
grep warning "$TT_STDERR" >warn.txt
n=$(grep -c away warn.txt)
[ "$n" = 1 ] && pass "one warning names the tier" || fail "$n warnings name tier away"
if grep -q "away.*away" warn.txt; then fail "the warning names the tier twice"; else pass "named once"; fi

step "status predicts what sync moves"
: >"$ctl"
run_tool tier-status -s state --json
expect_exit 7
revs=$(json_get '.tiers[] | select(.name == "away") | .sync.revisions')
bytes=$(json_get '.tiers[] | select(.name == "away") | .sync.bytes')
run_tool tier-status -s state
expect_stdout_match "away .* 1 revision, "
run_tool tier-sync -s state --json
expect_exit 0
expect_json .stats.revisions "$revs"
expect_json .stats.bytes "$bytes"
expect_json '.stats.log_bytes > 0' true
echo offline >"$ctl"
printf again >"$src/a"
run_tool tier-push -s state "${fast[@]}" "$src"
: >"$ctl"
run_tool tier-sync -s state
expect_exit 0
expect_stderr_match '^tier-sync: replayed 1 revision onto 1 tier: 1 pack \('
