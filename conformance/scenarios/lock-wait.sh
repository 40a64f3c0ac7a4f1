#!/usr/bin/env bash
# Issue 13.7: a push that finds the installation lock held says at once,
# once, also without -v, what it waits for ("waiting for push pid N since
# 10:32:05 (the lock of '/state')"), and --wait-timeout bounds the wait:
# exit 75 when it runs out, at once with --wait-timeout 0.  The first push
# holds the lock through the TIER_TEST_LOCK_HOLD hook (docs/testing.md).
. "$(dirname "$0")/../conf.sh"

conf_init

# hold_lock MS: a push in the background that holds the lock MS ms; waits
# until the lock file names it; sets HOLDER (its pid)
hold_lock() {
	TIER_TEST_LOCK_HOLD=$1 "$TIER_TOOLS_DIR/tier-push" "${CONF_OPTS[@]}" -q \
		-s state "$SRC" >"$TT_TMP/holder.out" 2>&1 &
	HOLDER=$!
	local i
	for i in $(seq 100); do
		grep -q "^pid $HOLDER\$" state/lock 2>/dev/null && return 0
		sleep 0.05
	done
	fail "the first push never took the lock"
}

step "the lock file records pid, tool, operation and start time"
hold_lock 6000
check "lock file: pid, tool, op, since" \
	grep -qx "tool tier-push" state/lock
expect_lock_line() { grep -Eqx "$1" state/lock; }
check "lock file names the operation" expect_lock_line "op push"
check "lock file has the start time" expect_lock_line "since [0-9]+"

step "--wait-timeout 1: announced at once, once, without -v; exit 75"
t0=$(date +%s%N)
tool tier-push -s state --wait-timeout 1 "$SRC"
t1=$(date +%s%N)
expect_exit 75
expect_stderr_match "warning: waiting for push pid $HOLDER since [0-9]{2}:[0-9]{2}:[0-9]{2} \\(the lock of '/[^']*/state'\\)"
n=$(grep -c "warning: waiting for push" "$TT_STDERR")
check "announced once ($n)" [ "$n" = 1 ]
expect_stderr_match "gave up after 1 s waiting for push pid $HOLDER"
ms=$(((t1 - t0) / 1000000))
check "gave up after about a second ($ms ms)" [ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ]

step "--wait-timeout 0: no waiting, exit 75 at once, the holder named"
t0=$(date +%s%N)
tool tier-push -s state --wait-timeout 0 "$SRC"
t1=$(date +%s%N)
expect_exit 75
expect_stderr_one_line
expect_stderr_match "busy: push pid $HOLDER since .* holds the lock of"
ms=$(((t1 - t0) / 1000000))
check "at once ($ms ms)" [ "$ms" -lt 900 ]
tool tier-push -s state --wait-timeout 0 --json "$SRC"
expect_exit 75
expect_json .error.exit 75

step "no bound: announced, then the push runs once the lock is free"
tool tier-push -s state "$SRC"
expect_exit 0
n=$(grep -c "waiting for push pid $HOLDER" "$TT_STDERR")
check "announced once ($n)" [ "$n" = 1 ]
wait "$HOLDER"
check "the first push succeeded too" [ $? = 0 ]
check "the lock file is empty once nobody holds it" [ ! -s state/lock ]
