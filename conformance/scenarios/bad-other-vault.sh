#!/usr/bin/env bash
# Bad input: the state directory of another vault used with this vault's
# tiers.  A clear error naming the tier and both vaults, no write on any
# tier, both installations unharmed.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0
other_url=$(file_tier other)
tool tier-init -s other -t "other=$other_url"
expect_exit 0
max=$(rev server)

step "the other vault's state dir, pointed at this vault's tier"
srv_fault "log $TT_TMP/calls.log"
# under a name the installation knows: an unknown one is refused before
# any tier is reached (unknown-tier.sh)
tool tier-push -s other -t "other=$SRV" "$SRC"
check "tier-push refuses (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ] && [ "$TT_EXIT" != 3 ]
expect_error_one_line
expect_stderr_match "vault"
n=$(grep -cE '^(put|rename|remove|mkdir) ' "$TT_TMP/calls.log" || true)
check "no write call reached the tier under test ($n)" [ "$n" = 0 ]

step "a tier of the installation that now holds another vault"
git config -f other/config tier.other.url "$SRV"
tool tier-push -s other "$SRC"
check "tier-push refuses (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ] && [ "$TT_EXIT" != 3 ]
expect_stderr_match "vault"
tool tier-status -s other
check "tier-status reports it (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ]
expect_stdout_match "other|vault"
n=$(grep -cE '^(put|rename|remove|mkdir) ' "$TT_TMP/calls.log" || true)
check "still no write call on the tier under test ($n)" [ "$n" = 0 ]
srv_ok

step "this vault is unharmed"
expect_rev server "$max"
tool tier-push -s state "$SRC"
expect_exit 0
fsck_clean
git_fsck_both
