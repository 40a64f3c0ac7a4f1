#!/usr/bin/env bash
# A hostile tier cannot make tier-restore write outside DEST or through a
# link (issue 12): the tier's log is rewritten with git plumbing so that its
# snapshot holds an entry '../../../canary/escaped.txt', a symlink 'l' to
# the canary and a directory 'l' holding 'evil' (or an entry 'l/evil'), and
# a directory 'd' of mode 4777 beside a symlink 'd' to a 0600 file.  Each bad directory is
# reported in one line and skipped, the rest of the revision is restored
# byte for byte, the exit status is 1, and the canary is untouched.
# A plaintext vault: it forges plaintext trees and blobs; a forged object in an encrypted vault fails authentication (crypto.sh).
export TT_ENCRYPTION=none
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/sub"
printf 'alpha\n' >"$src/a.txt"
printf 'beta\n' >"$src/sub/b.txt"
head -c 300000 /dev/urandom >"$src/sub/random.bin"
touch -d '2020-01-02 03:04:05' "$src/sub" "$src"

canary=$TT_TMP/canary
mkdir "$canary"
printf 'secret\n' >"$canary/secret"
chmod 0600 "$canary/secret"

# listing DIR: names, types, modes, sizes, mtimes (equal: nothing changed)
listing() { (cd "$1" && find . -printf '%p %y %m %s %T@ %l\n' | sort); }

same_tree() {
	if diff -r --no-dereference "$1" "$2" >/dev/null &&
		[ "$(cd "$1" && find . -printf '%p %y %m %T@\n' | sort)" = \
			"$(cd "$2" && find . -printf '%p %y %m %T@\n' | sort)" ]; then
		pass "$2 equals $1"
	else
		fail "$2 differs from $1"
	fi
}

a_url=$(file_tier a)
run_tool tier-init -s state -t "a=$a_url"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0

step "the tier's snapshot rewritten with git plumbing"
log=$TT_TMP/tiers/a/log.git
g() { git -C "$log" "$@"; }
head=$(cat "$log/refs/heads/main")
a_node=$(g rev-parse "$head:root/${src#/}/a.txt")
node() { # TYPE MODE [TARGET]: a node blob
	{
		printf 'tier-node 1\ntype %s\nmode %s\nuid %s\ngid %s\nsize 0\n' \
			"$1" "$2" "$(id -u)" "$(id -g)"
		printf 'mtime 1600000000.000000000\nctime 1600000000.000000000\n'
		printf 'ino 0\ndev 0\n'
		[ $# -gt 2 ] && printf 'target %s\n' "$3"
	} | g hash-object -w --stdin
}
# raw_tree MODE NAME OID ...: a tree object as bytes, in the order given
# (git's order), any name: what a hostile tier can write
raw_tree() {
	while [ $# -gt 0 ]; do
		printf '%s %s\0' "$1" "$2"
		printf '%s' "$3" | xxd -r -p
		shift 3
	done | g hash-object -t tree --literally -w --stdin
}
link_out=$(node symlink 777 "$canary")
link_file=$(node symlink 777 "$canary/secret")
suid_dir=$(node dir 4777)
up=
n=$(tr -cd / <<<"$src" | wc -c)
for ((i = 0; i < n + 2; i++)); do up=../$up; done
escape=$(raw_tree 100644 "${up}canary/escaped.txt" "$a_node" 100644 ok.txt "$a_node")
evil=$(raw_tree 100644 evil "$a_node")
linkdir=$(raw_tree 100644 l "$link_out" 40000 l "$evil" 100644 ok.txt "$a_node")
d_dir=$(raw_tree 100644 % "$suid_dir" 100644 x "$a_node")
dupdir=$(raw_tree 100644 d "$link_file" 40000 d "$d_dir" 100644 ok.txt "$a_node")
slashdir=$(raw_tree 100644 l "$link_out" 100644 l/evil "$a_node" 100644 ok.txt "$a_node")

# replace TREE NAME MODE OID: TREE with its entry NAME set to OID
replace() {
	{
		g ls-tree "$1" | awk -F '\t' -v n="$2" '$2 != n'
		printf '%s %s %s\t%s\n' "$3" "$([ "$3" = 040000 ] && echo tree || echo blob)" "$4" "$2"
	} | g mktree
}
t=$(g rev-parse "$head:root/${src#/}")
t=$(replace "$t" escape 040000 "$escape")
t=$(replace "$t" linkdir 040000 "$linkdir")
t=$(replace "$t" dupdir 040000 "$dupdir")
t=$(replace "$t" slashdir 040000 "$slashdir")
# and back up to the root, one directory at a time
rel=${src#/}
while [ "$rel" != . ]; do
	parent=$(dirname "$rel")
	if [ "$parent" = . ]; then ptree=$(g rev-parse "$head:root"); else ptree=$(g rev-parse "$head:root/$parent"); fi
	t=$(replace "$ptree" "$(basename "$rel")" 040000 "$t")
	rel=$parent
done
rev=$(replace "$(g rev-parse "$head^{tree}")" root 040000 "$t")
# the same message (trailers: revision, vault) and signatures
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_AUTHOR_DATE GIT_COMMITTER_NAME \
	GIT_COMMITTER_EMAIL GIT_COMMITTER_DATE
GIT_AUTHOR_NAME=$(g log -1 --format=%an "$head")
GIT_AUTHOR_EMAIL=$(g log -1 --format=%ae "$head")
GIT_AUTHOR_DATE=$(g log -1 --format=%ad --date=raw "$head")
GIT_COMMITTER_NAME=$(g log -1 --format=%cn "$head")
GIT_COMMITTER_EMAIL=$(g log -1 --format=%ce "$head")
GIT_COMMITTER_DATE=$(g log -1 --format=%cd --date=raw "$head")
commit=$(g log -1 --format=%B "$head" |
	g commit-tree "$rev" -p "$(g rev-parse "$head^")")
echo "$commit" >"$log/refs/heads/main"
g repack -a -d -q
if [ -n "$commit" ]; then pass "hostile revision $commit"; else fail "no hostile revision"; fi
canary_before=$(listing "$canary")

for ow in "--overwrite always" "--overwrite never"; do
	step "restore from the hostile tier alone (-t) $ow"
	run_tool tier-restore -t "a=$a_url" $ow out
	expect_exit 1
	expect_stderr_match "^tier-restore: (warning|error): directory '/.*/src/escape' not restored: bad tree entry name '(\.\./)+canary/escaped.txt': holds a '/'\$"
	expect_stderr_match "^tier-restore: (warning|error): directory '/.*/src/linkdir' not restored: duplicate tree entry 'l'\$"
	expect_stderr_match "^tier-restore: (warning|error): directory '/.*/src/dupdir' not restored: duplicate tree entry 'd'\$"
	expect_stderr_match "^tier-restore: (warning|error): directory '/.*/src/slashdir' not restored: bad tree entry name 'l/evil': holds a '/'\$"
	n=$(grep -c 'not restored' "$TT_STDERR")
	if [ "$n" = 4 ]; then pass "each bad directory reported once"; else fail "$n reports, expected 4"; fi
	same_tree "$src" "out$src"
	if [ "$(listing "$canary")" = "$canary_before" ]; then pass "canary unchanged"; else fail "canary changed: $(listing "$canary")"; fi
	if [ "$(stat -c %a "$canary/secret")" = 600 ]; then pass "canary file still 0600"; else fail "canary file is $(stat -c %a "$canary/secret")"; fi
	if [ -e "$TT_TMP/escaped.txt" ] || [ -e "$canary/escaped.txt" ] || [ -e "$canary/evil" ]; then
		fail "a file was written outside DEST"
	else
		pass "nothing outside DEST"
	fi
done
