#!/usr/bin/env bash
# R3 Write: a write goes to every online, synchronised tier; an unsynchronised
# tier is skipped and reported; with no tier online the push waits, gives up
# with exit 75 after --wait-timeout, and completes when a tier comes back.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0
expect_rev server 2

step "server away for one push: written on local only"
srv_fault offline
echo r3 >"$SRC/r3-a.txt"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_push_result server skipped-offline
expect_push_result local written

step "server back but behind: skipped as unsynchronised, reported"
srv_ok
echo r3b >"$SRC/r3-b.txt"
tool tier-push -s state --json "$SRC"
expect_exit 0
expect_json .revision 4
expect_push_result server skipped-unsynchronized
expect_push_result local written
expect_rev server 2
tool tier-sync -s state
expect_exit 0
expect_rev server 4

step "every tier away: --wait-timeout 1 gives up with exit 75, nothing written"
srv_fault offline
mv "$LOCAL_DIR" "$LOCAL_DIR.away"
echo r3c >"$SRC/r3-c.txt"
t0=$(date +%s%N)
tool tier-push -s state --wait-timeout 1 "$SRC"
t1=$(date +%s%N)
expect_exit 75
ms=$(((t1 - t0) / 1000000))
check "gave up after about 1 s (${ms} ms)" [ "$ms" -ge 900 ] && [ "$ms" -lt 10000 ]
expect_stderr_match "wait"
mv "$LOCAL_DIR.away" "$LOCAL_DIR"
srv_ok
expect_rev server 4
expect_rev local 4

step "every tier away: the push waits, and completes when the server returns"
srv_fault offline
mv "$LOCAL_DIR" "$LOCAL_DIR.away"
(
	"$TIER_TOOLS_DIR/tier-push" "${CONF_OPTS[@]}" -s state --json --wait-timeout 60 "$SRC" \
		>"$TT_TMP/bg.out" 2>"$TT_TMP/bg.err" </dev/null
	echo $? >"$TT_TMP/bg.rc"
) &
bg=$!
sleep 1
check "the push is still waiting after 1 s" [ ! -e "$TT_TMP/bg.rc" ]
srv_ok
wait "$bg"
rc=$(cat "$TT_TMP/bg.rc")
check "the waiting push completed with exit 0 (exit $rc: $(head -c 300 "$TT_TMP/bg.err" | tr "\n" " "))" [ "$rc" = 0 ]
r=$(jq -r .revision "$TT_TMP/bg.out" 2>/dev/null)
check "it wrote revision 5 (got '$r')" [ "$r" = 5 ]
mv "$LOCAL_DIR.away" "$LOCAL_DIR"
expect_rev server 5
tool tier-sync -s state
expect_exit 0
expect_rev local 5
snapshot want
restore_check out "$TT_TMP/want" -s state
git_fsck_both
