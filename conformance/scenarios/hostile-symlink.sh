#!/usr/bin/env bash
# Hostile tier: a symlink then an entry through it ('l -> CANARY', then
# 'l/evil'); a directory then a duplicate of its name that is a symlink
# ('d/', then 'd -> CANARY'); the same with the directory's mode 7777 and
# the link to a 0600 file ('e/', then 'e -> CANARY-FILE': the final chmod
# of the directory must not follow it).  One round each, the tier crafted
# with git plumbing after a normal push.  tier-restore, with --overwrite
# always (the default) and if-changed, into a new and into an existing DEST, writes nothing
# through a link (the canary directory stays empty, the canary file keeps
# mode 0600), names the bad entry, restores the rest byte for byte and
# exits 1; tier-fsck exits 5 naming it; memory stays under 64 MiB.
# A plaintext vault: it forges plaintext trees and blobs; a forged object in an encrypted vault fails authentication (crypto.sh).
export TT_ENCRYPTION=none
. "$(dirname "$0")/hostile-lib.bash"

hostile_init
node=$(hostile_node_of a.txt)

# round NAME STDERR-RE ENTRY: restore new, --overwrite if-changed new,
# --overwrite if-changed over the first; then fsck
round() {
	local out=$TT_TMP/$1 re=$2 e=$3
	mem_tool tier-restore -t "server=$SRV" "$out"
	expect_exit 1
	expect_stderr_match "$re"
	expect_mem_below "$HOSTILE_MEM_MIB"
	expect_canaries_untouched
	expect_rest_restored "$out" "$e"
	mem_tool tier-restore -t "server=$SRV" --overwrite if-changed "$out-ow"
	expect_exit 1
	expect_stderr_match "$re"
	expect_canaries_untouched
	expect_rest_restored "$out-ow" "$e"
	mem_tool tier-restore -t "server=$SRV" --overwrite if-changed "$out"
	expect_exit 1
	expect_canaries_untouched
	expect_rest_restored "$out" "$e"
	mem_tool tier-fsck -t "server=$SRV"
	expect_exit 5
	expect_stdout_match "$re"
	expect_mem_below "$HOSTILE_MEM_MIB"
	mem_tool tier-fsck -t "server=$SRV" --read-data
	expect_exit 5
	expect_canaries_untouched
}

step "a symlink 'l -> \$CANARY', then an entry 'l/evil'"
hostile_add 100644 l "$(hostile_symlink_node "$CANARY")"
hostile_add 100644 l/evil "$node"
hostile_commit
round out-l 'l/evil' l

step "a directory 'd', then a duplicate 'd -> \$CANARY'"
hostile_reset
dir=$(hostile_raw_tree "$TT_TMP/d.tree" 100644 % "$(hostile_dir_node 755)" \
	100644 evil "$node")
hostile_add 40000 d "$dir"
hostile_add 100644 d "$(hostile_symlink_node "$CANARY")"
hostile_commit
round out-d "duplicate.*entry '?d'?( |:|$)" d

step "a directory 'e' of mode 7777, then a duplicate 'e -> \$CANARY_FILE'"
hostile_reset
# empty: no file to open inside it, only the directory's own mode to set
dir=$(hostile_raw_tree "$TT_TMP/e.tree" 100644 % "$(hostile_dir_node 7777)")
hostile_add 40000 e "$dir"
hostile_add 100644 e "$(hostile_symlink_node "$CANARY_FILE")"
hostile_commit
round out-e "duplicate.*entry '?e'?( |:|$)" e
