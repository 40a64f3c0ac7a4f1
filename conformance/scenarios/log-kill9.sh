#!/usr/bin/env bash
# The operation log under kill -9 (issue "operation log", R9): tier-push is
# killed with SIGKILL at 50 different instants of a write on two tiers (the
# second one slowed down so that the instants spread over the whole write).
# After each kill the next run must recognise the state as its own (never
# exit 3 or 4), no completed revision may be lost, and stock git must find
# both logs sound.
. "$(dirname "$0")/../lib.sh"

a=$(file_tier a)
mkdir -p tiers/b
b="fault+file://$TT_TMP/tiers/b?fault=$TT_TMP/b.ctl"
: >b.ctl
mkdir -p src
O=(--retries 3 --retry-delay 1)

run_tool tier-init -s state -t "a=$a" -t "b=$b"
expect_exit 0

written=1 # revision 1: the vault's birth
lost=0 foreign=0 broken=0
echo "delay 4" >b.ctl # every call to b takes 4 ms: a push lasts ~100-200 ms
for i in $(seq 1 50); do
	head -c $((20000 + i * 997)) /dev/urandom >"src/f$i"
	"$TIER_TOOLS_DIR/tier-push" "${O[@]}" -q -s state "$TT_TMP/src" >push.out 2>push.err </dev/null &
	pid=$!
	# instants from 2 ms to ~200 ms, spread over the write
	sleep "$(printf '0.%03d' $((2 + (i * 41) % 200)))"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null && st=0 || st=$?
	[ "$st" = 0 ] && written=$(head -n 1 push.out)
	# the next run: its own state, never a second installation or a rollback
	"$TIER_TOOLS_DIR/tier-status" "${O[@]}" -s state --json >st.json 2>st.err </dev/null && sx=0 || sx=$?
	case $sx in
	3 | 4) foreign=$((foreign + 1)); echo "after kill $i: exit $sx: $(cat st.err)" >&2 ;;
	0 | 7) ;;
	*) broken=$((broken + 1)); echo "after kill $i: tier-status exit $sx: $(cat st.err)" >&2 ;;
	esac
	max=$(jq -r .max_revision st.json 2>/dev/null || echo 0)
	if [ "$max" -lt "$written" ]; then
		lost=$((lost + 1))
		echo "after kill $i: newest revision $max < $written written before" >&2
	fi
	written=$max
	for t in a b; do
		if ! git --git-dir="tiers/$t/log.git" fsck --strict >/dev/null 2>&1; then
			broken=$((broken + 1))
			echo "after kill $i: git fsck --strict fails on tier $t" >&2
		fi
	done
	# bring b level again when a kill left it behind, as an operator would
	"$TIER_TOOLS_DIR/tier-sync" "${O[@]}" -q -s state </dev/null >/dev/null 2>&1 || true
done
check_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: $2 (want $3)"; fi; }
check_eq "kills that led to exit 3 or 4" "$foreign" 0
check_eq "kills that lost a completed revision" "$lost" 0
check_eq "kills after which a tool failed or git fsck complained" "$broken" 0

step "a last push and sync complete, both tiers level, every revision readable"
: >b.ctl
run_tool tier-push "${O[@]}" -s state "$TT_TMP/src"
expect_exit 0
run_tool tier-sync "${O[@]}" -s state
expect_exit 0
run_tool tier-status "${O[@]}" -s state --json
expect_exit 0
expect_json '[.tiers[].synchronized] | all' true
n=$(git --git-dir=tiers/a/log.git rev-list --first-parent --count main)
expect_json .max_revision "$n"
run_tool tier-restore "${O[@]}" -t "a=$a" "$TT_TMP/restore"
expect_exit 0
if diff -r src "restore$TT_TMP/src" >/dev/null; then pass "restore equals the source"; else fail "restore differs"; fi
