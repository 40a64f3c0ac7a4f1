#!/usr/bin/env bash
# Issue 12 point 10: file metadata blobs (nodes) crafted on a tier with git
# plumbing.  Each is refused as damage, in one line: tier-restore exits 1
# (never 2, a usage error) and prints JSON only with --json; tier-fsck
# exits 5.  A tier's name appears once in a message about it.
# A plaintext vault: it forges plaintext trees and blobs; a forged object in an encrypted vault fails authentication (crypto.sh).
export TT_ENCRYPTION=none
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src"
printf 'hello\n' >"$src/a.txt"
printf 'world\n' >"$src/b.txt"
ln -s a.txt "$src/l"
url=$(file_tier t)
tier=$TT_TMP/tiers/t
G=(git --git-dir="$tier/log.git")
export GIT_AUTHOR_NAME=mallory GIT_AUTHOR_EMAIL=m@example.invalid
export GIT_COMMITTER_NAME=mallory GIT_COMMITTER_EMAIL=m@example.invalid

run_tool tier-init -s state -t "t=$url"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0
cp -a "$tier" "$TT_TMP/pristine"
chunk=$("${G[@]}" cat-file -p "HEAD:root${src}/a.txt" | awk '/^chunk/ {print $2}')

# craft PATH CONTENT: the head commit again, with the blob at PATH (in the
# snapshot tree) replaced by CONTENT (printf %b), as a hostile tier would.
craft() {
	local blob tree commit
	rm -rf "$tier"
	cp -a "$TT_TMP/pristine" "$tier"
	blob=$(printf '%b' "$2" | "${G[@]}" hash-object -w --stdin)
	rm -f "$TT_TMP/index"
	tree=$(GIT_INDEX_FILE=$TT_TMP/index sh -c '
		git --git-dir="$1" read-tree HEAD &&
		git --git-dir="$1" update-index --cacheinfo "100644,$2,$3" &&
		git --git-dir="$1" write-tree' sh "$tier/log.git" "$blob" "$1")
	commit=$("${G[@]}" commit-tree "$tree" -p HEAD^ \
		-m "$("${G[@]}" log -1 --format=%B HEAD)")
	"${G[@]}" update-ref refs/heads/main "$commit" &&
		"${G[@]}" repack -a -d -q && "${G[@]}" prune ||
		fail "cannot craft $1"
}

# refused WHAT: restore and fsck of the crafted tier say WHAT.
refused() {
	rm -rf out
	run_tool tier-restore -t "t=$url" out
	expect_exit 1
	expect_stderr_match "$1"
	expect_stderr_one_line
	expect_stdout_empty
	rm -rf out
	run_tool tier-restore -t "t=$url" --json out
	expect_exit 1
	expect_json_object
	expect_json .error.exit 1
	expect_json .error.code corrupt
	run_tool tier-fsck -t "t=$url"
	expect_exit 5
	expect_stdout_match "$1"
}

a="root${src}/a.txt"
file="tier-node 1\ntype file\nmode 644\nsize 6\nmtime 1.000000000\n"
step "mode overflow (restored as 0000 before)"
craft "$a" "tier-node 1\ntype file\nmode 10644\nsize 6\nchunk $chunk 6\n"
refused "file metadata blob is damaged: mode '10644' is not an octal number up to 7777"
run_tool tier-restore -t "t=$url" out3
expect_stderr_match "^tier-restore: '$src/a.txt': file metadata blob is damaged: mode"
step "a key twice"
craft "$a" "${file}mode 4755\nchunk $chunk 6\n"
refused "'mode' given twice"
step "an unknown type"
craft "$a" "tier-node 1\ntype door\nmode 644\n"
refused "unknown type 'door'"
step "a uid over 32 bits"
craft "$a" "${file}uid 4294967296\nchunk $chunk 6\n"
refused "uid '4294967296' is not a number"
step "a target on a file"
craft "$a" "${file}target /etc/shadow\nchunk $chunk 6\n"
refused "a target on a file"
step "chunks that do not add up to the size"
craft "$a" "${file}chunk $chunk 6\nchunk $chunk 6\n"
refused "chunks add up to 12 bytes, not the size 6"
step "a chunk of 0 bytes"
craft "$a" "${file}chunk $chunk 0\nchunk $chunk 6\n"
refused "chunk of 0 bytes"
step "a symlink target no file system takes (ENAMETOOLONG: exit 2 before)"
craft "root${src}/l" "tier-node 1\ntype symlink\nmode 777\ntarget $(head -c 5000 /dev/zero | tr '\0' x)\n"
refused "symlink target of 5000 bytes"

step "the tier is named once in a message about it"
rm -rf "$tier"
cp -a "$TT_TMP/pristine" "$tier"
for p in "$tier"/data/*/*; do
	rm -f "$p"
	mkdir "$p" # a directory where the pack belongs
done
rm -rf out
run_tool tier-restore -t "t=$url" out
expect_exit 1
expect_stderr_match "is a directory"
expect_stderr_match "2 entries could not be restored"
expect_stderr_no_match "tier 't': tier 't'"
expect_stdout_empty # a JSON error object was printed here before
run_tool tier-restore -t "t=$url" --json out2
expect_exit 1
expect_json_object
n=$(jq -r .error.message "$TT_STDOUT" | grep -o "tier 't'" | wc -l)
if [ "$n" = 1 ]; then pass "tier named once in the JSON error"; else fail "tier named $n times"; fi
