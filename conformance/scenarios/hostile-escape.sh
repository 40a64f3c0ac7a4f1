#!/usr/bin/env bash
# Hostile tier: entry names that climb out of DEST: '../../../canary/x',
# the same behind %2F escapes, a directory named '..' (one round each, the
# tier crafted with git plumbing after a normal push).  tier-restore (-t
# URL, and a --read-only installation) writes nothing outside DEST nor
# above the entry's directory, names the bad entry, restores the rest
# byte for byte and exits 1; tier-fsck (with and without --read-data)
# exits 5 naming it; memory stays under 64 MiB.
# A plaintext vault: it forges plaintext trees and blobs; a forged object in an encrypted vault fails authentication (crypto.sh).
export TT_ENCRYPTION=none
. "$(dirname "$0")/hostile-lib.bash"

hostile_init
node=$(hostile_node_of a.txt)
# DEST$SRC/hostile/../ once for hostile, once per component of $SRC and
# once more for DEST: $TT_TMP, where the canary is
n=$(tr -cd / <<<"$SRC" | wc -c)
climb=$(printf '../%.0s' $(seq -1 "$n"))canary/escaped.txt

# round DEST-NAME WHAT-STDERR-NAMES: restore and fsck the crafted tier
round() {
	local out=$TT_TMP/$1 re=$2
	mem_tool tier-restore -t "server=$SRV" "$out"
	expect_exit 1
	expect_stderr_match "$re"
	expect_mem_below "$HOSTILE_MEM_MIB"
	expect_canaries_untouched
	expect_no_file "$CANARY/escaped.txt"
	expect_no_file "$TT_TMP/escaped.txt"
	expect_no_file "$out$SRC/dotdot.txt"
	expect_rest_restored "$out"
	mem_tool tier-fsck -t "server=$SRV"
	expect_exit 5
	expect_stdout_match "$re"
	expect_mem_below "$HOSTILE_MEM_MIB"
	mem_tool tier-fsck -t "server=$SRV" --read-data
	expect_exit 5
	expect_stdout_match "$re"
	expect_canaries_untouched
}

step "an entry named '$climb'"
hostile_add 100644 "$climb" "$node"
hostile_commit
round out1 'escaped\.txt'

step "the same through a --read-only installation"
tool tier-init --read-only -s ro -t "server=$SRV"
expect_exit 0
mem_tool tier-restore -s ro "$TT_TMP/out-ro"
expect_exit 1
expect_stderr_match 'escaped\.txt'
expect_mem_below "$HOSTILE_MEM_MIB"
expect_canaries_untouched
expect_no_file "$CANARY/escaped.txt"
expect_rest_restored "$TT_TMP/out-ro"

step "the same path as an escaped name (decodes to a name holding '/')"
hostile_reset
hostile_add 100644 "%%2E.%2F$(sed 's#^\.\./##; s#/#%2F#g' <<<"$climb")" "$node"
hostile_commit
round out2 'escaped\.txt'

step "a directory named '..' (its file would land in \$SRC)"
hostile_reset
dd=$(hostile_raw_tree "$TT_TMP/dotdot.tree" 100644 % "$(hostile_dir_node 755)" \
	100644 dotdot.txt "$node")
hostile_add 40000 .. "$dd"
hostile_commit
round out3 "'\.\.'"
