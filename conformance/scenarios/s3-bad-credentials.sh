#!/usr/bin/env bash
# An s3:// tier with a wrong secret, an unknown key id, a missing bucket or
# no credentials at all: one clear line naming the thing, at once (no
# retries), and never the secret.  Skipped without TIER_TEST_S3_URL.
. "$(dirname "$0")/../lib.sh"

[ -n "${TIER_TEST_S3_URL:-}" ] || skip "no s3 server: run ci/ceph.sh start; eval \"\$(ci/ceph.sh env)\""
exec 9>"${TIER_CEPH_DIR:-/tmp}/tests.lock"
flock -s 9

rest=${TIER_TEST_S3_URL#s3://}          # bucket/prefix?query
bucket=${rest%%/*}
path_query=${rest#*/}
base=${path_query%%\?*}
query=${path_query#*\?}
fresh="$bucket/$base/cli-$$-$RANDOM?$query"
secret=WrongSecret0123xyz

step "wrong secret: exit 1 at once, names the key id, hides the secret"
start=$SECONDS
run_tool tier-init -s state -t "s3=s3://$AWS_ACCESS_KEY_ID:$secret@$fresh" --retries 10 --retry-delay 1000
expect_exit 1
expect_stderr_one_line
expect_stderr_match "the store refused the credentials for key id '$AWS_ACCESS_KEY_ID' \(wrong secret\?\)"
expect_stderr_no_match "$secret"
if [ $((SECONDS - start)) -lt 5 ]; then pass "no retries"; else fail "took $((SECONDS - start)) s: retried"; fi

step "unknown key id"
run_tool tier-init -s state2 -t "s3=s3://NOSUCHKEYID:$secret@$fresh" --retries 10 --retry-delay 1000
expect_exit 1
expect_stderr_match "key id 'NOSUCHKEYID'"
expect_stderr_no_match "$secret"

step "missing bucket: a usage error naming it"
run_tool tier-init -s state3 -t "s3=s3://nosuchbucket-tier/$base/x?$query"
expect_exit 2
expect_stderr_match "bucket 'nosuchbucket-tier' does not exist"

step "no credentials anywhere: a usage error saying where they are looked for"
AWS_ACCESS_KEY_ID='' AWS_SECRET_ACCESS_KEY='' run_tool tier-init -s state4 -t "s3=s3://$fresh"
expect_exit 2
expect_stderr_match "no credentials for tier"
