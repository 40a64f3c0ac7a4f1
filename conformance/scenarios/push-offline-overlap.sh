#!/usr/bin/env bash
# Issue 20: an offline server never delays the local write.  A tier whose
# first attempt does not answer is retried in the background (its own R1
# budget; the write waits only for its first three attempts, which a
# server refusing connections fails within the first two back-offs) while
# the push writes to the tiers that answered (R3), so a push
# with the server refusing connections takes about the larger of a
# local-only push and the reconnect budget, not their sum:
#  1. server refusing connections (ftp:// on a port where nothing listens):
#     wall time <= max(local-only push, back-off budget) * 1.1 + slack; the
#     local tier holds the new revision long before the retries end; the
#     server is reported offline (skipped-offline), exit 0;
#  2. the server answers again while the push puts data on the local tier:
#     it missed the revision, so it is reported unsynchronised, and
#     tier-sync levels it;
#  3. no tier answers at once: R3's wait as before, for the first tier that
#     comes back; with --wait-timeout 0 the push fails after one budget (the
#     tiers are retried at once, not one after the other).
# The back-off budget is what the retries actually slept (the -v trace
# lines' "next in" delays: the jitter makes it differ from run to run).
. "$(dirname "$0")/../conf.sh"

command -v jq >/dev/null || skip "no jq"
conf_init local-first
tool tier-push -s state "$SRC"
expect_exit 0

# 7 attempts from the default base of 200 ms: 6 back-offs, 6.3 to 12.6 s
# (the default 10 take a minute; docs/retry.md has those figures).  The
# local tier is throttled so that a local-only push takes ~3 s: sequential
# probing would then exceed the bound whatever the jitter.
RETRY=(--retries 7 --retry-delay 200ms)
THROTTLE=(--limit-upload 4M)
# port 1 (tcpmux): nothing listens, every connection is refused at once
DEAD=ftp://u:pw-o20@127.0.0.1:1/x
HEAD=$LOCAL_DIR/log.git/refs/heads/main

# new_data TAG: 12 MiB of new data in the source
new_data() {
	local i
	for i in 0 1 2; do head -c 4194304 /dev/urandom >"$SRC/$1-$i.bin"; done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# budget_ms FILE: the back-off the retries slept, from the -v trace lines
budget_ms() {
	grep -o 'next in [0-9.]* m\?s' "$1" |
		awk '{ t += ($4 == "ms") ? $3 : $3 * 1000 } END { printf "%d\n", t }'
}

# watch_head: in the background, the time (ms) the local tier's head
# changes, into $TT_TMP/head.ms
watch_head() {
	local h0
	h0=$(cat "$HEAD" 2>/dev/null)
	rm -f "$TT_TMP/head.ms"
	(
		for ((i = 0; i < 1200; i++)); do
			if [ "$(cat "$HEAD" 2>/dev/null)" != "$h0" ]; then
				now_ms >"$TT_TMP/head.ms"
				break
			fi
			sleep 0.05
		done
	) &
	WATCHER=$!
}

step "a push with the server refusing connections"
new_data a
watch_head
t0=$(now_ms)
run_tool tier-push -s state -v --json "${RETRY[@]}" "${THROTTLE[@]}" \
	-t "local=$LOCAL" -t "server=$DEAD" "$SRC"
t_off=$(($(now_ms) - t0))
wait "$WATCHER"
expect_exit 0
expect_push_result local written
expect_push_result server skipped-offline
expect_stderr_match "warning: tier 'server'.*offline.*skipped"
expect_stderr_match "tier 'server': attempt 7/7 failed, giving up"
expect_stderr_no_match "pw-o20"
rev_a=$(json_get .revision)
budget=$(budget_ms "$TT_STDERR")
t_head=$(($(cat "$TT_TMP/head.ms" 2>/dev/null || echo 99999999999999) - t0))

step "the same push to the local tier alone"
new_data b
t0=$(now_ms)
run_tool tier-push -s state --json "${RETRY[@]}" "${THROTTLE[@]}" -t "local=$LOCAL" "$SRC"
t_local=$(($(now_ms) - t0))
expect_exit 0
expect_json .revision $((rev_a + 1))

max=$((t_local > budget ? t_local : budget))
limit=$((max * 11 / 10 + 500))
echo "      local-only push ${t_local} ms, back-off budget ${budget} ms, push with the" \
	"server refusing ${t_off} ms (limit ${limit} ms; one after the other:" \
	"$((t_local + budget)) ms); the local head moved at ${t_head} ms" >&3
check "the back-off budget was measured (${budget} ms)" [ "$budget" -ge 6000 ]
check "push with the server refusing: ${t_off} ms <= max(${t_local}, ${budget}) * 1.1 + 500 = ${limit} ms" \
	[ "$t_off" -le "$limit" ]
check "the retries ran to their end before the push reported (${t_off} + 200 >= ${budget} ms: two clocks, the trace rounds each back-off)" \
	[ $((t_off + 200)) -ge "$budget" ]
check "the local tier took the revision while the server was retried (at ${t_head} ms of ${budget})" \
	[ $((t_head + 500)) -lt "$budget" ]
tool tier-status -s state -t "local=$LOCAL" --json
expect_exit 0
expect_rev local $((rev_a + 1))

step "the server answers again during the push: unsynchronised, then levelled"
srv_fault offline
new_data c
# back once the push has started to put data on the local tier alone
touch "$TT_TMP/marker"
(
	for ((i = 0; i < 1500; i++)); do
		[ -n "$(find "$LOCAL_DIR/data" -newer "$TT_TMP/marker" -type f 2>/dev/null | head -n 1)" ] && break
		sleep 0.02
	done
	srv_ok
) &
back=$!
t0=$(now_ms)
run_tool tier-push -s state --json "${RETRY[@]}" "${THROTTLE[@]}" "$SRC"
t_back=$(($(now_ms) - t0))
wait "$back"
expect_exit 0
expect_push_result local written
expect_push_result server skipped-unsynchronized
expect_stderr_match "tier 'server' answered again during the write.*run tier-sync"
rev_c=$(json_get .revision)
echo "      push while the server came back: ${t_back} ms" >&3
check "that push did not wait for the whole budget (${t_back} ms < 9000)" [ "$t_back" -lt 9000 ]
tool tier-status -s state --json
expect_exit 7
expect_json '.tiers[] | select(.name == "server") | .synchronized' false
tool tier-sync -s state
expect_exit 0
tool tier-status -s state --json
expect_exit 0
expect_rev server "$rev_c"
expect_rev local "$rev_c"

step "no tier answers at once: R3 waits for the first one back"
LOCAL_CTL=$TT_TMP/local.ctl
printf 'offline\n' >"$LOCAL_CTL"
LOCAL_F="fault+$LOCAL?fault=$LOCAL_CTL"
( sleep 1 && rm -f "$LOCAL_CTL" ) &
back=$!
new_data d
run_tool tier-push -s state "${RETRY[@]}" --wait-timeout 60 -t "local=$LOCAL_F" -t "server=$DEAD" "$SRC"
wait "$back"
expect_exit 0
expect_stdout_match "^$((rev_c + 1))\$"
expect_stderr_match "revision $((rev_c + 1)) on 1 of 2 tiers"

step "no tier answers and the push may not wait: one budget, not two"
printf 'offline\n' >"$LOCAL_CTL"
t0=$(now_ms)
run_tool tier-push -s state -v --retries 5 --retry-delay 200ms --wait-timeout 0 \
	-t "local=$LOCAL_F" -t "server=$DEAD" "$SRC"
t_none=$(($(now_ms) - t0))
expect_exit 1
expect_stderr_match "no tier can take the write"
b_local=$(grep "tier 'local': attempt" "$TT_STDERR" | grep -o 'next in [0-9.]* m\?s' |
	awk '{ t += ($4 == "ms") ? $3 : $3 * 1000 } END { printf "%d\n", t }')
b_server=$(grep "tier 'server': attempt" "$TT_STDERR" | grep -o 'next in [0-9.]* m\?s' |
	awk '{ t += ($4 == "ms") ? $3 : $3 * 1000 } END { printf "%d\n", t }')
bmax=$((b_local > b_server ? b_local : b_server))
echo "      both tiers away: ${t_none} ms (budgets ${b_local} and ${b_server} ms)" >&3
check "both tiers retried at once: ${t_none} ms <= max(${b_local}, ${b_server}) * 1.1 + 500" \
	[ "$t_none" -le $((bmax * 11 / 10 + 500)) ]
rm -f "$LOCAL_CTL"
tool tier-sync -s state
expect_exit 0
fsck_clean
