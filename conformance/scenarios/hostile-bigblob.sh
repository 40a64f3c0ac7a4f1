#!/usr/bin/env bash
# Hostile tier: a file's metadata blob replaced by 1 GiB of zeros (about
# 1 MB in the log pack).  Every object from a tier is size-checked before
# it is inflated: tier-restore names the file, restores the rest byte for
# byte and exits 1; tier-fsck exits 5; tier-log --stat fails (exit 1);
# none of them uses 64 MiB.  The tier is crafted with git plumbing after a
# normal push.
# A plaintext vault: it forges plaintext trees and blobs; a forged object in an encrypted vault fails authentication (crypto.sh).
export TT_ENCRYPTION=none
. "$(dirname "$0")/hostile-lib.bash"

hostile_init
# sparse: no disk used; git streams it into a pack
truncate -s 1G "$TT_TMP/zero.bin"
big=$(hostile_blob "$TT_TMP/zero.bin")
rm -f "$TT_TMP/zero.bin"
hostile_replace a.txt "$big"
hostile_commit

out=$TT_TMP/out
step "restore from the hostile tier"
mem_tool tier-restore -t "server=$SRV" "$out"
expect_exit 1
expect_stderr_match 'a\.txt'
expect_mem_below "$HOSTILE_MEM_MIB"
expect_no_file "$out$SRC/a.txt"
expect_no_file "$out$SRC/a.txt.tier-tmp"
expect_rest_restored "$out" a.txt
expect_canaries_untouched

step "fsck calls the tier damaged"
mem_tool tier-fsck -t "server=$SRV"
expect_exit 5
expect_stdout_match 'a\.txt'
expect_mem_below "$HOSTILE_MEM_MIB"
mem_tool tier-fsck -t "server=$SRV" --read-data
expect_exit 5
expect_mem_below "$HOSTILE_MEM_MIB"

step "tier-log --stat fails on it"
mem_tool tier-log -t "server=$SRV" --stat
expect_exit 1
expect_mem_below "$HOSTILE_MEM_MIB"
