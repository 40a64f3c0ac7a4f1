#!/usr/bin/env bash
# SPEC section 4 / issue 18: tier-init creates the tier root with every
# missing parent, on file:// always and on FTP and SFTP when the loopback
# servers run (ci/servers.sh start; eval "$(ci/servers.sh env)"), so the
# README's examples work verbatim on a fresh server directory.
. "$(dirname "$0")/../lib.sh"

mkdir -p src/docs
printf 'letter\n' >src/docs/letter.txt
head -c 100000 /dev/urandom >src/blob

# init into ROOT (a URL), push src, restore, compare
init_push_restore() {
	local name=$1 url=$2
	run_tool tier-init -s "st-$name" -t "$name=$url"
	expect_exit 0
	run_tool tier-push -s "st-$name" "$TT_TMP/src"
	expect_exit 0
	run_tool tier-restore -s "st-$name" "out-$name"
	expect_exit 0
	if diff -r "$TT_TMP/src" "out-$name/$TT_TMP/src" >/dev/null; then
		pass "$name: restored tree equals the source"
	else
		fail "$name: restored tree differs"
	fi
}

step "file://: a root three missing levels deep"
init_push_restore local "file://$TT_TMP/media/backup/deep/vault"
mode=$(stat -c %a "$TT_TMP/media/backup/deep/vault")
if [ "$mode" = 700 ]; then pass "file root is private (0700)"; else fail "root mode $mode"; fi

step "file://: a file in the way is one line, exit 1, no installation"
: >"$TT_TMP/plain"
run_tool tier-init -s st-bad -t "file://$TT_TMP/plain/sub/vault"
expect_exit 1
expect_stderr_one_line
expect_stderr_match "plain"
if [ ! -e st-bad/config ]; then pass "no installation"; else fail "installation written"; fi

if [ -n "${TIER_TEST_FTP_URL:-}" ] && [ -n "${TIER_TEST_FTP_DIR:-}" ]; then
	sub=init-root-$(date +%s)-$$
	base=${TIER_TEST_FTP_URL%/*}
	tt_at_exit "rm -rf '$(dirname "$TIER_TEST_FTP_DIR")/$sub'"
	step "ftp://: a nested root below the login directory"
	init_push_restore ftp "$base/$sub/a/b/vault"
	step "ftp://: the README's form, one level below the login directory"
	init_push_restore ftptop "$base/$sub-top"
	tt_at_exit "rm -rf '$(dirname "$TIER_TEST_FTP_DIR")/$sub-top'"
else
	echo "skip: no ftp server (TIER_TEST_FTP_URL unset)" >&3
fi

if [ -n "${TIER_TEST_SFTP_URL:-}" ] && [ -n "${TIER_TEST_SFTP_DIR:-}" ]; then
	sub=init-root-$(date +%s)-$$
	url=${TIER_TEST_SFTP_URL/\?//$sub/x/y/vault?}
	tt_at_exit "rm -rf '$TIER_TEST_SFTP_DIR/$sub'"
	step "sftp://: a nested absolute root"
	init_push_restore sftp "$url"
else
	echo "skip: no sftp server (TIER_TEST_SFTP_URL unset)" >&3
fi
