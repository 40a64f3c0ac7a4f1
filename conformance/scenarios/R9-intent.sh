#!/usr/bin/env bash
# R9 Intent before write: a tool killed at any instant of a write (every
# crash point of the write protocol on each tier, every put of the server,
# real kill -9 at many instants, and every crash point of a sync) leaves a
# state the next run takes as its own: never exit 3 or 4, the next push and
# sync complete, and every revision written is still restorable.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0
WRITTEN=()

# recover LABEL: after a crash, no false second installation or rollback;
# a push and a sync complete; remember the revision and its tree.
recover() {
	local label=$1 r
	srv_ok
	echo "$label" >"$SRC/r9-last.txt"
	tool tier-push -s state "$SRC"
	case $TT_EXIT in
	0) pass "$label: the next push takes the state as its own and completes" ;;
	3 | 4) fail "$label: the next push says exit $TT_EXIT (our own crash taken as foreign or rollback): $(head -c 300 "$TT_STDERR")" ;;
	*) fail "$label: the next push exits $TT_EXIT: $(head -c 300 "$TT_STDERR")" ;;
	esac
	r=
	[ "$TT_EXIT" = 0 ] && r=$(head -n 1 "$TT_STDOUT")
	tool tier-sync -s state
	expect_exit 0
	if [ -n "$r" ]; then
		snapshot "rev$r"
		WRITTEN+=("$r")
	fi
}

n_crash=0
step "TIER_TEST_CRASH at every step of a write, on each tier"
for point in write.persisted write.intent write.pack write.head write.ref; do
	for n in 1 2; do
		[ "$point" = write.persisted ] && [ "$n" = 2 ] && continue
		echo "$point:$n" >"$SRC/r9-crash.txt"
		TIER_TEST_CRASH=$point:$n tool tier-push -s state "$SRC"
		if [ "$TT_EXIT" = 137 ]; then
			n_crash=$((n_crash + 1))
		else
			fail "TIER_TEST_CRASH=$point:$n: expected the push killed (137), got $TT_EXIT"
		fi
		recover "crash at $point:$n"
	done
done
check "$n_crash crash points hit" [ "$n_crash" = 9 ]

step "the process killed at each put of the server, in turn"
for n in $(seq 1 12); do
	echo "put $n" >"$SRC/r9-put.txt"
	head -c 20000 /dev/urandom >"$SRC/r9-put.bin"
	srv_fault "crash put $n"
	tool tier-push -s state "$SRC"
	if [ "$TT_EXIT" = 0 ]; then
		pass "push with fewer than $n puts completes"
		srv_ok
		break
	fi
	check "killed at put $n (exit $TT_EXIT)" [ "$TT_EXIT" = 137 ]
	recover "kill at server put $n"
done

step "real kill -9 of tier-push at many instants (slow server)"
for ms in 10 40 90 160 300; do
	echo "kill $ms" >"$SRC/r9-kill.txt"
	head -c 20000 /dev/urandom >"$SRC/r9-kill.bin"
	srv_fault "delay 10"
	"$TIER_TOOLS_DIR/tier-push" "${CONF_OPTS[@]}" -s state "$SRC" >/dev/null 2>&1 </dev/null &
	pid=$!
	sleep "$(printf '0.%03d' "$ms")"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	recover "kill -9 after $ms ms"
done

step "TIER_TEST_CRASH at every step of a sync"
for point in sync.intent sync.pack sync.head sync.ref; do
	srv_fault offline
	echo "$point" >"$SRC/r9-sync.txt"
	tool tier-push -s state "$SRC"
	expect_exit 0
	if [ "$TT_EXIT" = 0 ]; then
		r=$(head -n 1 "$TT_STDOUT")
		snapshot "rev$r"
		WRITTEN+=("$r")
	fi
	srv_ok
	TIER_TEST_CRASH=$point tool tier-sync -s state
	check "sync killed at $point (exit $TT_EXIT)" [ "$TT_EXIT" = 137 ]
	recover "crash at $point"
done

step "no revision lost: every revision written restores from the server alone"
max=$(rev server)
expect_rev local "$max"
tool tier-log -t "server=$SRV" --json
expect_json '.revisions | length' "$max"
for r in "${WRITTEN[@]}"; do
	tool tier-restore -t "server=$SRV" -r "$r" "out$r"
	if [ "$TT_EXIT" = 0 ] && diff -r --no-dereference "$TT_TMP/rev$r" "out$r$SRC" >/dev/null; then
		pass "revision $r restores equal"
	else
		fail "revision $r does not restore equal (exit $TT_EXIT)"
	fi
done
fsck_clean
git_fsck_both
