#!/usr/bin/env bash
# R5 Detection: at the start of every tool, and when an offline tier answers
# again, each tier's revision is compared with the maximum; a lower one (an
# empty tier: 0) marks the tier unsynchronised.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0

step "the server misses a revision while away"
srv_fault offline
echo r5 >"$SRC/r5-a.txt"
tool tier-push -s state "$SRC"
expect_exit 0
srv_ok

step "tier-status at start: server online, revision 2 of 3, unsynchronised (exit 7)"
tool tier-status -s state --json
expect_exit 7
expect_json .max_revision 3
expect_json '.tiers[] | select(.name == "server") | "\(.online) \(.revision) \(.synchronized)"' "true 2 false"
expect_json '.tiers[] | select(.name == "local") | "\(.online) \(.revision) \(.synchronized)"' "true 3 true"
tool tier-status -s state
expect_exit 7
expect_stdout_match "server"

step "the same without an installation (-t only)"
tool tier-status -t "server=$SRV" -t "local=$LOCAL" --json
expect_exit 7
expect_json '.tiers[] | select(.name == "server") | .synchronized' false

step "a new, empty tier is at revision 0, unsynchronised"
tool tier-status -t "server=$SRV" -t "local=$LOCAL" -t "new=$(file_tier new)" --json
expect_exit 7
expect_json '.tiers[] | select(.name == "new") | "\(.revision) \(.synchronized)"' "0 false"

step "tier-push at start skips the server as unsynchronised"
echo r5b >"$SRC/r5-b.txt"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server skipped-unsynchronized
tool tier-sync -s state
expect_exit 0
tool tier-status -s state
expect_exit 0

step "an offline tier that answers again is detected behind and levelled (tier-sync --watch)"
srv_fault offline
echo r5c >"$SRC/r5-c.txt"
tool tier-push -s state "$SRC"
expect_exit 0
max=$(rev local)
"$TIER_TOOLS_DIR/tier-sync" "${CONF_OPTS[@]}" -s state --watch --interval 50 \
	>"$TT_TMP/watch.out" 2>"$TT_TMP/watch.err" </dev/null &
watcher=$!
sleep 0.3
check "the offline server is not written while away" [ "$(rev server)" != "$max" ]
srv_ok
for _ in $(seq 1 100); do
	[ "$(rev server)" = "$max" ] && break
	sleep 0.1
done
expect_rev server "$max"
kill -TERM "$watcher" 2>/dev/null
wait "$watcher"
rc=$?
TT_EXIT=$rc TT_CMD="tier-sync --watch (SIGTERM)" expect_exit_in "0 143"
git_fsck_both
