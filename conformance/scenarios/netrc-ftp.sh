#!/usr/bin/env bash
# The README's FTP set-up (issue 13.1): the user in the tier URL, the
# password in ~/.netrc.  Against the loopback vsftpd (ci/servers.sh env:
# TIER_TEST_FTP_URL, TIER_TEST_FTP_DIR); skipped without it.  A push and a
# restore work with the netrc alone, also with no user in the URL; a wrong
# password in the netrc is one line naming the netrc, exit 1, not retried.
. "$(dirname "$0")/../conf.sh"

url=${TIER_TEST_FTP_URL:-}
[ -n "$url" ] && [ -n "${TIER_TEST_FTP_DIR:-}" ] || skip "no ftp server (ci/servers.sh env)"
rest=${url#ftp://}
userinfo=${rest%%@*}
hostpath=${rest#*@}
user=${userinfo%%:*}
pass=${userinfo#*:}
[ "$user" != "$userinfo" ] || skip "TIER_TEST_FTP_URL has no password"
host=${hostpath%%[:/]*}
sub=conf-netrc-$(date +%s)-$$
tt_at_exit "rm -rf '$TIER_TEST_FTP_DIR/$sub'"
conf_src

# HOME is the scenario's own (lib.sh); libcurl insists on nothing but we
# keep the file private as one would
printf 'machine %s\n\tlogin %s\n\tpassword %s\n' "$host" "$user" "$pass" >"$HOME/.netrc"
chmod 600 "$HOME/.netrc"
unset NETRC

step "user in the URL, password in ~/.netrc: init, push, restore"
tool tier-init -s state -t "srv=ftp://$user@$hostpath/$sub"
expect_exit 0
tool tier-push -s state "$SRC"
expect_exit 0
expect_stderr_no_match "$pass"
restore_check out "$SRC" -s state

step "no user in the URL: login and password from ~/.netrc"
tool tier-status -t "srv=ftp://$hostpath/$sub"
expect_exit 0
restore_check out2 "$SRC" -t "srv=ftp://$hostpath/$sub"

step "a wrong password in ~/.netrc: one line naming it, exit 1, no retry"
printf 'machine %s login %s password wr0ng-netrc-pw\n' "$host" "$user" >"$HOME/.netrc"
tool tier-push -s state "$SRC"
expect_exit 1
expect_stderr_one_line
expect_stderr_match "login refused for user '$user'"
expect_stderr_match "netrc '$HOME/.netrc'"
expect_stderr_no_match "wr0ng-netrc-pw"
tool tier-restore -v -s state out3
expect_exit 1
expect_stderr_no_match "attempt [0-9]+/"
check "nothing restored" [ ! -e out3/"$SRC" ]

step "no entry for the user: refused before logging in, the netrc named"
printf 'machine %s login someone-else password x\n' "$host" >"$HOME/.netrc"
tool tier-push -s state "$SRC"
expect_exit 1
expect_stderr_one_line
expect_stderr_match "no password for user '$user'"
