#!/usr/bin/env bash
# Every tool's --json output is one object that its schema in docs/schema/
# accepts (one schema per object kind: tier, revision, stats, error), in
# good and bad cases: an offline tier (revision and head null, not 0), a
# tier behind, a non-UTF-8 name, usage errors (the error object on stdout
# too), a failed run.  docs/json.md.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"

schemas=${TIER_SOURCE_DIR:-$here/../..}/docs/schema
validator=$here/../json-validate.py

# valid TOOL: the last run's stdout is one object that TOOL's schema takes
valid() {
	local why
	if why=$(python3 "$validator" "$schemas" "$1" "$TT_STDOUT" 2>&1); then
		pass "$TT_CMD: stdout valid against $1.json"
	else
		fail "$TT_CMD: stdout not valid against $1.json: $why"
	fi
}

step "the validator refuses what breaks a schema (so that it can fail)"
printf '{"vault": null, "max_revision": 0, "read_only": false, "tiers": [{"name": "x", "url": "file:///x", "online": false, "state": "offline", "revision": 0, "head": null, "synchronized": false, "stored_revision": null, "problem": null, "surprise": 1}]}\n' >bad.json
if python3 "$validator" "$schemas" tier-status bad.json 2>/dev/null; then
	fail "an unknown field and a wrong type passed"
else
	pass "a wrong object is refused"
fi
python3 "$validator" "$schemas" tier-status bad.json >/dev/null 2>&1
[ $? = 2 ] && fail "python3-jsonschema missing (ci/install-deps.sh)"

src=$TT_TMP/src
mkdir -p "$src/d"
printf 'one\n' >"$src/a"
printf 'two\n' >"$src/d/b"$'\377'
ln -s a "$src/l"
ctl=$TT_TMP/nas.control
: >"$ctl"
local_url=$(file_tier local)
nas_url="fault+$(file_tier nas)?fault=$ctl"
fast=(--retries 2 --retry-delay 1)

step "init, push, log, status, sync, fsck, restore: all online"
run_tool tier-init -s state -t "local=$local_url" -t "nas=$nas_url" --json
expect_exit 0
valid tier-init
run_tool tier-push -s state --json "$src"
expect_exit 0
valid tier-push
expect_json '.stats.files' 3
run_tool tier-push -s state --json --tag daily --message 'before the upgrade' "$src"
expect_exit 0
valid tier-push
run_tool tier-log -s state --json --tag daily
expect_exit 0
valid tier-log
expect_json '.revisions[0].tags[0]' daily
expect_json '.revisions[0].message' 'before the upgrade'
run_tool tier-status -s state --json
expect_exit 0
valid tier-status
run_tool tier-sync -s state --json
expect_exit 0
valid tier-sync
run_tool tier-fsck -s state --json
expect_exit 0
valid tier-fsck
run_tool tier-restore -s state --json out
expect_exit 0
valid tier-restore
run_tool tier-forget -s state -n --json --keep-last 1
expect_exit 0
valid tier-forget
run_tool tier-prune -s state -n --json
expect_exit 0
valid tier-prune
run_tool tier-forget -s state --json --keep-last -1 --prune
expect_exit 0
valid tier-forget
expect_json '.prune.dry_run' false
run_tool tier-archive -s state 2 --name json-check --json
expect_exit 0
valid tier-archive
run_tool tier-archive -s state --list --json
expect_exit 0
valid tier-archive
for a in "" "--stat" "2" "1 2" "-n 1"; do
	# shellcheck disable=SC2086
	run_tool tier-log -s state --json $a
	expect_exit 0
	valid tier-log
done
run_tool tier-log -s state --json 1
expect_json '.revisions[0].stats.files' null
expect_json '.revisions[0].paths | length' 0
run_tool tier-log -s state --json 2
expect_json '.revisions[0].stats.files' 3
expect_json '.revisions[0].summary | type' string
run_tool tier-log -s state --json 1 2
expect_json '.summary | type' string
expect_json '.changes_summary.added' 3

step "tier-ls, tier-find: entries of every kind, a non-UTF-8 name"
run_tool tier-ls -s state --json -R /
expect_exit 0
valid tier-ls
expect_json '[.entries[] | select(.type == "symlink")][0].target' a
expect_json '[.entries[] | select(has("path_b64"))] | length' 1
run_tool tier-ls -s state --json "$src/a"
expect_exit 0
valid tier-ls
expect_json '.entries | length' 1
run_tool tier-find -s state --json a 'b*'
expect_exit 0
valid tier-find
expect_json '.revisions[0].matches | length' 2
run_tool tier-find -s state --json no-such-name
expect_exit 0
valid tier-find
expect_json '.revisions | length' 0
run_tool tier-ls -s state --json /no/such/path
expect_exit 1
valid tier-ls
expect_json .error.code "not found"
run_tool tier-find -s state --json -r 99 x
expect_exit 1
valid tier-find

step "an offline tier: unknown is null, never 0"
echo offline >"$ctl"
run_tool tier-push -s state --json "${fast[@]}" "$src"
expect_exit 0
valid tier-push
expect_json '.tiers[] | select(.name == "nas") | "\(.result) \(.revision) \(.head)"' "skipped-offline null null"
run_tool tier-status -s state --json "${fast[@]}"
expect_exit 7
valid tier-status
expect_json '.tiers[] | select(.name == "nas") | "\(.online) \(.revision) \(.head) \(.state)"' "false null null offline"
run_tool tier-sync -s state --json "${fast[@]}"
valid tier-sync
run_tool tier-fsck -s state --json "${fast[@]}"
valid tier-fsck

step "a tier behind: its predicted sync"
: >"$ctl"
run_tool tier-status -s state --json
expect_exit 7
valid tier-status
expect_json '.tiers[] | select(.name == "nas") | "\(.state) \(.sync.revisions)"' "behind 1"

step "usage errors: an error object on stdout with --json, for every tool"
for t in tier-init tier-push tier-log tier-status tier-sync tier-fsck tier-restore tier-ls tier-find; do
	run_tool "$t" -s state --json --no-such-option
	expect_exit 2
	valid "$t"
	expect_json '.error | "\(.code) \(.exit)"' "usage 2"
	expect_stderr_one_line
done
run_tool tier-log -s state --json not-a-number
expect_exit 2
valid tier-log
expect_json .error.code usage
run_tool tier-restore -s state --json
expect_exit 2
valid tier-restore
run_tool tier-init --json -t "$local_url"
expect_exit 2
valid tier-init
run_tool tier-log -s state --no-such-option
expect_exit 2
expect_stdout_empty

step "a failed run: the error object"
run_tool tier-log -s state --json 99
expect_exit 1
valid tier-log
expect_json .error.code "not found"
run_tool tier-restore -s state --json -r 99 out2
valid tier-restore
expect_json '.error.exit' "$TT_EXIT"

step "tier-push --json with excludes: the excluded_* stats"
mkdir -p "$TT_TMP/ex/skip"
printf 'x\n' >"$TT_TMP/ex/a.tmp"
head -c 5000 /dev/zero >"$TT_TMP/ex/big"
printf 'kept\n' >"$TT_TMP/ex/kept"
run_tool tier-push -s state --json --exclude '*.tmp' --exclude skip/ --exclude-larger-than 1K "$TT_TMP/ex"
expect_exit 0
valid tier-push
expect_json '.stats.excluded_files' 2
expect_json '.stats.excluded_bytes' 5002
expect_json '.stats.excluded_dirs' 1
run_tool tier-push -s state --json --exclude '[x' "$TT_TMP/ex"
expect_exit 2
valid tier-push

step "tier-config --list --json"
run_tool tier-config -s state push.exclude '*.tmp'
expect_exit 0
run_tool tier-config -s state --list --json
expect_exit 0
valid tier-config
run_tool tier-config -s state --json --no-such-option
expect_exit 2
valid tier-config
