#!/usr/bin/env bash
# tier-fsck never calls a vault clean when it did not look at it: exit 7
# when some tier was offline (an unmounted disk: its root directory gone; a
# server down: the fault tier's 'offline') and the others were clean, 1
# when it could check no tier at all, 5 when damage was found on the others
# (damage wins).  Text and --json say which tiers were not checked.
. "$(dirname "$0")/../lib.sh"

a=$(file_tier a)
mkdir -p tiers/b
b="fault+file://$TT_TMP/tiers/b?fault=$TT_TMP/b.ctl"
: >b.ctl
mkdir -p src
head -c 100000 /dev/urandom >src/data.bin

step "a clean vault on two tiers"
run_tool tier-init -s state -t "a=$a" -t "b=$b"
expect_exit 0
run_tool tier-push -s state "$TT_TMP/src"
expect_exit 0
run_tool tier-fsck -s state
expect_exit 0

step "the disk of tier a is unmounted: 7, and says so"
mv tiers/a tiers/a.away
run_tool tier-fsck -s state --retries 2 --retry-delay 1
expect_exit 7
expect_stdout_match "^warning \[tier-offline\] tier 'a'"
expect_stdout_match '^checked 1 of 2 tiers'
expect_stderr_match "no damage on the tiers checked, but 'a' could not be checked"
run_tool tier-fsck -t "a=$a" -t "b=$b" --retries 2 --retry-delay 1 --json
expect_exit 7
expect_json_object
expect_json '.tiers_offline | join(",")' a
expect_json .tiers_checked 1
expect_json .errors 0

step "damage on the tier that answers wins over the one that does not"
pack=$(cd tiers/b && ls data/*/* | head -n 1)
mv "tiers/b/$pack" pack.saved
run_tool tier-fsck -s state --retries 2 --retry-delay 1
expect_exit 5
expect_stdout_match "pack-missing"
mv pack.saved "tiers/b/$pack"

step "the server of tier b is down too: nothing checked, exit 1"
echo offline >b.ctl
run_tool tier-fsck -s state --retries 2 --retry-delay 1
expect_exit 1
expect_stdout_match '^checked 0 of 2 tiers'
expect_stderr_match "could check no tier: 'a', 'b' did not answer or refused access"
run_tool tier-fsck -t "a=$a" -t "b=$b" --retries 2 --retry-delay 1 --json
expect_exit 1
expect_json_object
expect_json '.tiers_offline | join(",")' a,b
expect_json .tiers_checked 0

step "both back: clean again"
: >b.ctl
mv tiers/a.away tiers/a
run_tool tier-fsck -s state
expect_exit 0
