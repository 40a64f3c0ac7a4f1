#!/usr/bin/env bash
# Bad input: a tier URL with a typo.  Exit 2, one line naming the URL (its
# password hidden) and what is wrong, and nothing created or changed: no
# state directory, the installation's config untouched.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0
cfg=$(md5sum <state/config)
tiers=$(git config -f state/config --get-regexp '^tier\.')

case $CONF_SCHEME in
file) typo=fiel ;;
ftp) typo=ftpp ;;
ftps) typo=ftsp ;;
sftp) typo=sfpt ;;
*) typo=${CONF_SCHEME}x ;;
esac
TYPO="$typo://${SRV_PLAIN#*://}"
secret=
userinfo=${SRV_PLAIN#*://}
userinfo=${userinfo%%/*}
case $userinfo in *:*@*) secret=${userinfo#*:} secret=${secret%@*} ;; esac

step "a scheme typo ($typo://)"
tool tier-init -s new -t "x=$TYPO"
expect_exit 2
expect_stderr_one_line
expect_stderr_match "$typo"
[ -n "$secret" ] && expect_stderr_no_match "$secret"
check "no state directory made" [ ! -e new ]
tool tier-status -s state -t "x=$TYPO"
expect_exit 2
expect_stderr_one_line
check "the installation's config is unchanged" [ "$cfg" = "$(md5sum <state/config)" ]

step "other typos: no ://, a relative path, a bad port, a space"
for u in "${SRV_PLAIN%%://*}:${SRV_PLAIN#*://}" "file:vault" "ftp://host:0/v" "ftp://host/my vault"; do
	tool tier-status -t "x=$u"
	expect_exit 2
	expect_stderr_one_line
done

step "a path typo on a file:// tier: a file in the way is refused, nothing made"
# SPEC 4: tier-init makes a root with its missing parents (mkdir -p), so the
# typo that can be caught is a path through something that is not a directory.
: >"$TT_TMP/plain-file"
tool tier-init -s new2 -t "x=file://$TT_TMP/plain-file/vault"
check "tier-init refuses (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ]
expect_error_one_line
expect_stderr_match "plain-file"
check "no state directory made" [ ! -e new2 ]
check "the file in the way is untouched" [ -f "$TT_TMP/plain-file" ] && [ ! -s "$TT_TMP/plain-file" ]

step "a path typo on an existing vault's tier reads as offline, not as an empty tier"
tool tier-status -t "x=file://$TT_TMP/no-such-dir/vault"
check "tier-status does not succeed on a typo (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ]
expect_stderr_match "no-such-dir"
check "the missing parent is not created" [ ! -e "$TT_TMP/no-such-dir" ]
tool tier-push -s state "$SRC"
expect_exit 0
check "the installation's tiers are the same" [ "$tiers" = "$(git config -f state/config --get-regexp '^tier\.')" ]
