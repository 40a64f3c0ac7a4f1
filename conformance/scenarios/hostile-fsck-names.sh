#!/usr/bin/env bash
# A tier whose snapshot holds entries no restore may act on (a name with
# '/', '..', a duplicate, a name that is not in canonical form, a node that
# does not parse), crafted with git plumbing: tier-fsck calls each one
# damage (exit 5) with its own id, naming the revision and the quoted path,
# and never prints a name raw.
# A plaintext vault: it forges plaintext trees and blobs; a forged object in an encrypted vault fails authentication (crypto.sh).
export TT_ENCRYPTION=none
. "$(dirname "$0")/../lib.sh"

a=$(file_tier a)
mkdir -p src
printf 'hello\n' >src/small.txt

run_tool tier-init -s state -t "a=$a"
expect_exit 0
run_tool tier-push -s state "$TT_TMP/src"
expect_exit 0

step "revision 3: hostile entries in the snapshot's top directory"
export GIT_AUTHOR_NAME=intruder GIT_AUTHOR_EMAIL=intruder@example.org
export GIT_COMMITTER_NAME=intruder GIT_COMMITTER_EMAIL=intruder@example.org
G=(git --git-dir="$TT_TMP/tiers/a/log.git")
head=$(cat tiers/a/log.git/refs/heads/main)
root=$("${G[@]}" rev-parse "$head:root")
# a node blob of the snapshot that parses
good=$("${G[@]}" ls-tree -r "$root" | awk '$2 == "blob" { print $3; exit }')
junk=$(printf 'not a node\n' | "${G[@]}" hash-object -w --stdin)
# git mktree refuses these names: a tree object by hand (mode, name, NUL, id)
entry() { printf '%s %s\0' "$1" "$2"; printf '%s' "$3" | xxd -r -p; }
"${G[@]}" ls-tree "$root" >top.txt
{
	while IFS=$'\t' read -r meta name; do
		set -- $meta
		[ "$2" = tree ] && m=40000 || m=$1
		entry "$m" "$name" "$3"
	done <top.txt
	entry 100644 "../../escaped.txt" "$good"
	entry 100644 dup "$good"
	entry 100644 dup "$good"
	entry 100644 $'esc\e[31mname' "$good"
	entry 100644 broken "$junk"
} >root.raw
newroot=$("${G[@]}" hash-object -w -t tree --literally root.raw)
newtree=$( { "${G[@]}" ls-tree "$head^{tree}" | grep -v "	root\$";
	printf '040000 tree %s\troot\n' "$newroot"; } | "${G[@]}" mktree)
msg=$("${G[@]}" cat-file commit "$head" | sed '1,/^$/d' |
	sed 's/^Tier-Revision: .*/Tier-Revision: 3/')
commit=$(printf '%s\n' "$msg" | "${G[@]}" commit-tree "$newtree" -p "$head")
printf '%s\n%s\n%s\n%s\n' "$commit" "$newtree" "$newroot" "$junk" |
	"${G[@]}" pack-objects -q "$TT_TMP/tiers/a/log.git/objects/pack/pack" >/dev/null
"${G[@]}" prune-packed
echo "$commit" >tiers/a/log.git/refs/heads/main

step "tier-fsck: each one is damage, with its own id"
run_tool tier-fsck -t "a=$a"
expect_exit 5
expect_stdout_match "^error \[dotdot-entry-name\] tier 'a': revision 3: directory /: bad tree entry name '../../escaped.txt'"
expect_stdout_match "^error \[duplicate-entries\] tier 'a': revision 3: directory /: entry dup appears 2 times"
expect_stdout_match '^error \[bad-entry-name\] .*"esc\\033\[31mname"'
expect_stdout_match "^error \[bad-node\] tier 'a': revision 3: the node of /broken does not parse"
expect_stdout_match ': 4 errors'
if grep -q $'\e' "$TT_STDOUT"; then
	fail "an escape byte reached the output"
else
	pass "no escape byte in the output"
fi
run_tool tier-fsck -t "a=$a" --json
expect_exit 5
expect_json_object
expect_json '[.problems[].id] | sort | join(",")' \
	bad-entry-name,bad-node,dotdot-entry-name,duplicate-entries
expect_json '[.problems[] | select(.id == "dotdot-entry-name")][0].object' \
	/../../escaped.txt

step "tier-log's diff stops at the bad directory, in one line"
run_tool tier-log -t "a=$a" 2 3
expect_exit 1
expect_stderr_one_line
