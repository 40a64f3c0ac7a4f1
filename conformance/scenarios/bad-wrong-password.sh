#!/usr/bin/env bash
# Bad input: a wrong password (or key) for the tier under test.  One line
# naming the tier and saying the login failed, the password never shown,
# no retry (a permanent error: one attempt, counted through the fault log),
# nothing created.  A file:// tier has no password: skipped.
. "$(dirname "$0")/../conf.sh"

_conf_server
remote || skip "a file:// tier has no password"

# The URL with the credential spoiled.
inner=${SRV_PLAIN}
base=${inner%%\?*}
query=${inner#"$base"}
rest=${base#*://}
userinfo=
case $rest in *@*) userinfo=${rest%%@*} ;; esac
secret=
if [ "${userinfo#*:}" != "$userinfo" ]; then
	secret=${userinfo#*:}
	bad="wr0ng-${secret}-x"
	wrong="${base/":$secret@"/":$bad@"}$query"
elif [ "$CONF_SCHEME" = sftp ] && [ "${query#*key=}" != "$query" ]; then
	ssh-keygen -q -t ed25519 -N '' -f "$TT_TMP/stranger_key"
	bad=
	wrong=$(sed -E "s#([?&]key=)[^&]*#\\1$TT_TMP/stranger_key#" <<<"$inner")
else
	skip "the tier URL has no password or key to spoil"
fi
if [ -n "$query" ]; then
	WRONG="fault+$wrong&fault=$SRV_CTL"
else
	WRONG="fault+$wrong?fault=$SRV_CTL"
fi
srv_fault "log $TT_TMP/calls.log"

step "tier-init with the wrong credential"
tool tier-init -s state -t "server=$WRONG" -t "local=$(file_tier local)"
check "tier-init fails (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ]
expect_error_one_line
expect_stderr_match "server"
expect_stderr_match "auth|login|password|denied|key|530"
[ -n "$bad" ] && expect_stderr_no_match "$bad"
[ -n "$secret" ] && expect_stderr_no_match "$secret"
n=$(wc -l <"$TT_TMP/calls.log")
check "not retried: at most 2 calls reached the tier ($n)" [ "$n" -le 2 ]
check "no state directory left half made" [ ! -e state/config ]

step "tier-status with the wrong credential"
rm -f "$TT_TMP/calls.log"
tool tier-status -t "server=$WRONG" --json
check "tier-status fails (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ]
[ -n "$bad" ] && expect_stdout_no_match "$bad"
[ -n "$bad" ] && expect_stderr_no_match "$bad"
n=$(wc -l <"$TT_TMP/calls.log")
check "not retried: at most 2 calls reached the tier ($n)" [ "$n" -le 2 ]
