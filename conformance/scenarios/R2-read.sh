#!/usr/bin/env bash
# R2 Read: reads come from the first online tier; a pack missing or failing
# its hash there is read from the next tier (the tier under test), the restore
# still equals the backup, the damage is reported, and tier-fsck --repair
# mends the first tier.  The first tier is a local one this scenario owns:
# the damage is never done to the integrator's storage.
. "$(dirname "$0")/../conf.sh"

conf_init local-first
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want

step "baseline: restore from the first tier"
restore_check out0 "$TT_TMP/want" -s state

step "the first tier's packs are missing: read from the server, reported"
mkdir -p "$TT_TMP/moved"
mv "$LOCAL_DIR"/data/* "$TT_TMP/moved/"
tool tier-restore -s state --json out1
expect_exit 0
same_tree "$TT_TMP/want" "out1$SRC"
n=$(json_get .damaged)
check "the missing packs are reported (damaged=$n)" [ "${n:-0}" -gt 0 ]
tool tier-restore -s state out1b
expect_exit 0
expect_stderr_match "local"
expect_stderr_match "server"

step "tier-fsck finds the damage (exit 5), --repair mends it from the server"
tool tier-fsck -s state
expect_exit 5
expect_stdout_match "local"
tool tier-fsck -s state --repair
expect_exit 0
fsck_clean
n=$(find "$LOCAL_DIR/data" -type f | wc -l)
check "packs back on the first tier ($n)" [ "$n" -gt 0 ]

step "a pack fails its hash on the first tier: read from the server, reported"
for p in "$LOCAL_DIR"/data/*/*; do
	printf '\xff\xff\xff\xff' | dd of="$p" bs=1 seek=16 conv=notrunc status=none
done
tool tier-restore -s state out2
expect_exit 0
expect_stderr_match "tier 'local'.*fails its hash.*tier 'server'"
same_tree "$TT_TMP/want" "out2$SRC"
tool tier-fsck -s state --read-data
expect_exit 5
tool tier-fsck -s state --repair --read-data
expect_exit 0
fsck_clean

step "the first tier is away (its root vanished): read from the server"
mv "$LOCAL_DIR" "$LOCAL_DIR.away"
restore_check out3 "$TT_TMP/want" -s state
mv "$LOCAL_DIR.away" "$LOCAL_DIR"

step "no installation: restore from the tier under test alone"
restore_check out4 "$TT_TMP/want" -t "server=$SRV"
git_fsck_both
