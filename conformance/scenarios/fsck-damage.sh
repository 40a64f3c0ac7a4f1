#!/usr/bin/env bash
# tier-fsck: a clean vault passes; a pack damaged on one tier is exit 5
# (found by --read-data only when its size is right); --repair mends it
# from the other tier and the next run is clean; damage on every tier
# stays damage.
. "$(dirname "$0")/../lib.sh"

a=$(file_tier a)
b=$(file_tier b)
mkdir -p src/sub
head -c 300000 /dev/urandom >src/sub/random.bin
printf 'hello\n' >src/small.txt

step "a clean vault"
run_tool tier-init -s state -t "a=$a" -t "b=$b"
expect_exit 0
run_tool tier-push -s state "$TT_TMP/src"
expect_exit 0
run_tool tier-fsck -s state --read-data
expect_exit 0
expect_stdout_match '^checked 2 of 2 tiers.*: 0 errors, 0 warnings'
run_tool tier-fsck -s state --json
expect_exit 0
expect_json_object
expect_json .errors 0
expect_json '.problems | length' 0
expect_json '.tiers | length' 2

pack=$(cd tiers/a && ls -S data/*/* | head -n 1)

step "flipped bytes on tier a"
printf 'XXXXXXXX' | dd of="tiers/a/$pack" bs=1 seek=4000 conv=notrunc 2>/dev/null
run_tool tier-fsck -s state
expect_exit 0
run_tool tier-fsck -s state --read-data
expect_exit 5
expect_stdout_match "^error \[pack-corrupt\] tier 'a': pack data/.* fails its (hash|check)"
run_tool tier-fsck -t "a=$a" -t "b=$b" --read-data --json
expect_exit 5
expect_json_object
expect_json '.problems[0].id' pack-corrupt
expect_json '.problems[0].tier' a
expect_json '.problems[0].object' "$pack"
expect_json '.problems[0].repaired' false
expect_json .errors 1

step "repair from tier b"
run_tool tier-fsck -s state --read-data --repair
expect_exit 0
expect_stdout_match "^repaired \[pack-corrupt\] tier 'a'.*repaired from tier 'b'"
if cmp -s "tiers/a/$pack" "tiers/b/$pack"; then pass "pack on a equals pack on b"; else fail "pack on a differs from b"; fi
run_tool tier-fsck -s state --read-data
expect_exit 0

step "a deleted pack"
rm "tiers/b/$pack"
run_tool tier-fsck -s state --json
expect_exit 5
expect_json '.problems[0].id' pack-missing
expect_json '.problems[0].tier' b
run_tool tier-fsck -s state --repair
expect_exit 0
run_tool tier-fsck -s state --read-data
expect_exit 0

step "an offline tier is a warning, not damage, but not a clean bill either"
run_tool tier-fsck -t "a=$a" -t "c=file:///nonexistent-tier-root/x" --retries 1
expect_exit 7
expect_stdout_match "warning \[tier-offline\] tier 'c'"
expect_stderr_match "'c' could not be checked"

step "damage on every tier"
rm "tiers/a/$pack"
truncate -s 100 "tiers/b/$pack"
run_tool tier-fsck -s state --read-data --repair
expect_exit 5
expect_stdout_match "pack-missing.*cannot repair"
expect_stdout_match "pack-size.*100 bytes"
expect_stdout_match '2 errors.*0 repaired'
