#!/usr/bin/env bash
# tier-log's text: a header row, one row per revision, times in the local
# time zone of TZ (UTC only when TZ says so), the source paths of each
# revision (its Tier-Path trailers, else its summary), "-" for what a
# revision did not record; --json's paths are the commit's Tier-Path
# trailers as stock git reads them.
# A plaintext vault: it reads the trailers in plain text with stock git.
export TT_ENCRYPTION=none
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src"
printf x >"$src/x"
local_url=$(file_tier local)
run_tool tier-init -s state -t "local=$local_url"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0

step "a header row, then one row per revision, newest first"
run_tool tier-log -s state
expect_exit 0
head -n 1 "$TT_STDOUT" | grep -Eq '^REVISION +TIME +OP +USER@HOST +INSTALLATION +FILES +SIZE +NEW +PATHS$' &&
	pass "header row" || fail "no header row: $(head -n 1 "$TT_STDOUT")"
expect_json_rows=$(wc -l <"$TT_STDOUT")
[ "$expect_json_rows" = 3 ] && pass "3 lines" || fail "$expect_json_rows lines"
expect_stdout_match '^ +1  .*  init  .*  +-  +-  +-  init: new vault$'
expect_stdout_match "^ +2  .*  push  .*  1  +1 B  +1 B  .*$src"

step "times in the local time zone of TZ"
t=$(git --git-dir="$TT_TMP/tiers/local/log.git" log -1 --format=%ct main)
for tz in UTC Asia/Kolkata America/New_York; do
	want=$(TZ=$tz date -d "@$t" '+%Y-%m-%d %H:%M:%S %z')
	TZ=$tz run_tool tier-log -s state -n 1
	expect_stdout_match "^ +2  ${want/+/\\+}  push "
	TZ=$tz run_tool tier-log -s state -n 1 --json
	expect_json '.revisions[0].time' "$(TZ=$tz date -d "@$t" '+%Y-%m-%dT%H:%M:%S%:z')"
done

step "--json paths are the commit's Tier-Path trailers"
want=$(git --git-dir="$TT_TMP/tiers/local/log.git" log -1 \
	--format='%(trailers:key=Tier-Path,valueonly)' main | sed '/^$/d' | jq -R . | jq -sc .)
run_tool tier-log -s state -n 1 --json
expect_json '.revisions[0].paths | tojson' "$want"
run_tool tier-log -s state 1 --json
expect_json '.revisions[0].paths | tojson' '[]'
expect_json '.revisions[0].stats | tojson' '{"files":null,"bytes":null,"new_bytes":null,"packs":null}'
