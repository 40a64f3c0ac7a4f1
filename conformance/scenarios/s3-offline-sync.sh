#!/usr/bin/env bash
# R10 on an s3:// tier (a real Ceph radosgw from ci/ceph.sh): with the store
# killed, a push lands on the local tier alone and says so; when it is back,
# tier-sync brings it level, and a restore from the s3 tier alone (no
# installation) gives the tree back.  Skipped without TIER_TEST_S3_URL:
#   ci/ceph.sh start && eval "$(ci/ceph.sh env)"
. "$(dirname "$0")/../lib.sh"

[ -n "${TIER_TEST_S3_URL:-}" ] || skip "no s3 server: run ci/ceph.sh start; eval \"\$(ci/ceph.sh env)\""
# radosgw is shared with the unit tests: take it alone while it is killed
exec 9>"${TIER_CEPH_DIR:-/tmp}/tests.lock"
flock 9

# a fresh key prefix: /tests -> /tests/cli-<random>
base=${TIER_TEST_S3_URL%%\?*}
query=${TIER_TEST_S3_URL#*\?}
s3_url="$base/cli-$$-$RANDOM?$query"
local_url=$(file_tier local)
tt_at_exit "$TIER_TEST_S3_RESTART >/dev/null 2>&1"

src=$TT_TMP/src
mkdir -p "$src/sub"
printf 'alpha\n' >"$src/a.txt"
head -c 2000000 /dev/urandom >"$src/sub/random.bin"
ln -s a.txt "$src/link"

step "a vault on a local and an s3 tier"
run_tool tier-init -s state -t "local=$local_url" -t "s3=$s3_url" --retries 2 --retry-delay 1
expect_exit 0
if grep -q "no driver for tier scheme 's3://'" "$TT_STDERR"; then
	fail "the tools are linked without the s3 driver (driver/registry.c weak symbol)"
fi
run_tool tier-push -s state --retries 2 --retry-delay 1 --json "$src"
expect_exit 0
expect_json '.tiers[1].result' written

step "the store is killed: the push lands on the local tier, s3 skipped"
eval "$TIER_TEST_S3_KILL"
printf 'beta\n' >"$src/b.txt"
run_tool tier-push -s state --retries 2 --retry-delay 1 --json "$src"
expect_exit 0
expect_json '.tiers[0].result' written
expect_json '.tiers[1].result' skipped-offline
expect_stdout_no_match "$AWS_SECRET_ACCESS_KEY"
printf 'gamma\n' >"$src/c.txt"
run_tool tier-push -s state --retries 2 --retry-delay 1 "$src"
expect_exit 0
expect_stderr_match "'s3'"
expect_stderr_no_match "$AWS_SECRET_ACCESS_KEY"

step "the store is back: tier-sync brings it level"
eval "$TIER_TEST_S3_RESTART"
run_tool tier-sync -s state --retries 2 --retry-delay 1
expect_exit 0
run_tool tier-status -s state --json
expect_exit 0
expect_json .max_revision 4
expect_json '.tiers[0].revision' 4
expect_json '.tiers[1].revision' 4
expect_json '.tiers[1].synchronized' true

step "the store is killed in the middle of a push: the push completes on the local tier"
head -c 40000000 /dev/urandom >"$src/big.bin"
("$TIER_TOOLS_DIR/tier-push" -s state --retries 2 --retry-delay 1 --threads 1 "$src" \
	>push.out 2>push.err </dev/null; echo $? >push.rc) &
pusher=$!
# kill radosgw once the push has started sending packs
for _ in $(seq 1 200); do
	grep -q . push.out 2>/dev/null && break
	[ -d "state/cache.git/tmp" ] && ls state/cache.git/tmp/*.pack >/dev/null 2>&1 && break
	sleep 0.01
done
eval "$TIER_TEST_S3_KILL"
wait "$pusher"
if [ "$(cat push.rc)" = 0 ]; then pass "push with radosgw killed under it exits 0"; else
	fail "push with radosgw killed under it: exit $(cat push.rc): $(head -n 2 push.err)"; fi
if grep -q "'s3'" push.err; then pass "the push says the s3 tier was skipped or failed"; else
	fail "push.err does not name the s3 tier: $(cat push.err)"; fi
eval "$TIER_TEST_S3_RESTART"
run_tool tier-sync -s state --retries 2 --retry-delay 1
expect_exit 0
run_tool tier-status -s state --json
expect_exit 0
expect_json '.tiers[1].synchronized' true
run_tool tier-fsck -s state --read-data --retries 2 --retry-delay 1
expect_exit 0

step "restore from the s3 tier alone, without an installation"
run_tool tier-restore -t "s3=$s3_url" out
expect_exit 0
if diff -r --no-dereference "$src" "out$src" >/dev/null; then
	pass "restored tree equals the source"
else
	fail "restored tree differs from the source"
fi
