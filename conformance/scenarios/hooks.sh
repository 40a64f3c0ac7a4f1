#!/usr/bin/env bash
# tier-push's hooks.prePush and hooks.postPush (SPEC section 9): a failing
# pre-hook stops the push (exit 1, no new revision), the post-hook sees the
# revision, the result, the vault and the state dir; a hanging hook is
# killed with its whole process group at hooks.timeout; hook output goes to
# stderr, never to stdout (the revision number).
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src"
printf 'one\n' >"$src/a"
url=$(file_tier a)
run_tool tier-init -s state -t "a=$url"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0
r=$(last_stdout) # tier-init's revision is 1: this is 2

max_rev() {
	"$TIER_TOOLS_DIR/tier-status" -s state --json | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["max_revision"])'
}

step "a failing pre-hook: no push, exit 1, one line, revision unchanged"
run_tool tier-config -s state hooks.prePush 'echo dumping; exit 3'
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 1
expect_stdout_empty
expect_stderr_match '^dumping$'
expect_stderr_match "hooks.prePush exited with status 3"
[ "$(max_rev)" = "$r" ] && pass "revision still $r" || fail "revision $(max_rev)"
run_tool tier-push -s state --json "$src"
expect_exit 1
expect_json .error.exit 1

step "the post-hook sees the revision and the result"
run_tool tier-config -s state hooks.prePush 'echo "pre $TIER_HOOK $TIER_STATE_DIR" >"$TIER_STATE_DIR/../pre.out"'
expect_exit 0
run_tool tier-config -s state hooks.postPush 'echo "post $TIER_REVISION $TIER_RESULT $TIER_VAULT"; echo "$TIER_REVISION $TIER_RESULT" >"$TIER_STATE_DIR/../post.out"'
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0
r=$((r + 1))
[ "$(last_stdout)" = $r ] && pass "stdout is the revision alone" ||
	fail "stdout: $(last_stdout)"
vault=$(git config -f state/config vault.id)
expect_stderr_match "^post $r success $vault\$"
[ "$(cat post.out)" = "$r success" ] && pass "post.out: $r success" ||
	fail "post.out: $(cat post.out)"
grep -q "^pre prePush .*state\$" pre.out && pass "pre-hook env" ||
	fail "pre.out: $(cat pre.out)"

step "a failed push: the post-hook is told so"
run_tool tier-push -s state "$TT_TMP/no-such-dir"
expect_exit 1
[ "$(cat post.out)" = " failed" ] && pass "post.out: failed, no revision" ||
	fail "post.out: $(cat post.out)"

step "a failing post-hook: the revision stays, exit 1"
run_tool tier-config -s state hooks.postPush 'exit 4'
run_tool tier-push -s state "$src"
expect_exit 1
r=$((r + 1))
expect_stdout_match "^$r\$"
expect_stderr_match "hooks.postPush exited with status 4"
run_tool tier-config -s state --unset hooks.postPush
expect_exit 0

step "a hanging pre-hook is killed with its group at hooks.timeout"
run_tool tier-config -s state hooks.timeout 1
expect_exit 0
run_tool tier-config -s state hooks.prePush "sleep 30 & echo \$! >'$TT_TMP/child.pid'; sleep 30"
expect_exit 0
t0=$(date +%s.%N)
run_tool tier-push -s state "$src"
t1=$(date +%s.%N)
expect_exit 1
expect_stderr_match "hooks.prePush timed out after 1 s"
expect_stdout_empty
took=$(echo "$t1 - $t0" | bc)
if [ "$(echo "$took >= 0.9 && $took < 10" | bc)" = 1 ]; then
	pass "killed after ${took}s"
else
	fail "took ${took}s"
fi
sleep 0.2
# killed is gone or a zombie (this container's init may reap it late)
if ps -o stat= -p "$(cat "$TT_TMP/child.pid")" | grep -qv Z; then
	fail "the hook's background child survived"
	kill "$(cat "$TT_TMP/child.pid")"
else
	pass "the hook's background child was killed too"
fi
[ "$(max_rev)" = "$r" ] && pass "revision still $r" || fail "revision $(max_rev)"

step "Ctrl-C while the pre-hook runs: the hook's group is killed, exit 6"
run_tool tier-config -s state hooks.timeout 1m
expect_exit 0
rm -f "$TT_TMP/child.pid"
"$TIER_TOOLS_DIR/tier-push" -s state "$src" >int.out 2>int.err &
pid=$!
for _ in $(seq 100); do [ -s "$TT_TMP/child.pid" ] && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
rc=$?
[ $rc = 6 ] && pass "exit 6 after SIGINT" || fail "exit $rc after SIGINT: $(cat int.err)"
grep -q 'hooks.prePush interrupted, killed' int.err && pass "said so" ||
	fail "stderr: $(cat int.err)"
sleep 0.2
if ps -o stat= -p "$(cat "$TT_TMP/child.pid")" | grep -qv Z; then
	fail "the hook's background child survived the interrupt"
	kill "$(cat "$TT_TMP/child.pid")"
else
	pass "the hook's background child was killed"
fi
[ "$(max_rev)" = "$r" ] && pass "revision still $r" || fail "revision $(max_rev)"

step "a bad hooks.timeout in the file: exit 2, one line, no push"
git config -f state/config hooks.timeout soon
run_tool tier-push -s state "$src"
expect_exit 2
expect_stderr_one_line
expect_stderr_match "hooks.timeout"
