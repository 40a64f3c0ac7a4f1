#!/usr/bin/env bash
# A hostile tier ships a 1 GiB blob of zeros (about 1 MB in its log pack) as
# the node of a file: every object from a tier is size-checked before it is
# inflated, so tier-fsck calls it damage (exit 5, naming the file and the
# revision) and tier-log --stat and the REV REV2 diff fail with one line,
# each in well under 64 MiB of memory.
# A plaintext vault: it forges plaintext trees and blobs; a forged object in an encrypted vault fails authentication (crypto.sh).
export TT_ENCRYPTION=none
. "$(dirname "$0")/../lib.sh"

a=$(file_tier a)
mkdir -p src/sub
printf 'hello\n' >src/small.txt
printf 'more\n' >src/sub/more.txt

step "a vault of two revisions"
run_tool tier-init -s state -t "a=$a"
expect_exit 0
run_tool tier-push -s state "$TT_TMP/src"
expect_exit 0

step "the tier grows a revision whose file /huge has a 1 GiB node blob"
export GIT_AUTHOR_NAME=intruder GIT_AUTHOR_EMAIL=intruder@example.org
export GIT_COMMITTER_NAME=intruder GIT_COMMITTER_EMAIL=intruder@example.org
G=(git --git-dir="$TT_TMP/tiers/a/log.git")
head=$(cat tiers/a/log.git/refs/heads/main)
# a sparse file: git streams it into a pack of its own (bulk check-in),
# never holding it in memory
truncate -s 1G zero.bin
blob=$("${G[@]}" -c core.bigFileThreshold=1m -c core.compression=1 \
	hash-object -w zero.bin)
rm zero.bin
root=$("${G[@]}" rev-parse "$head:root")
newroot=$( { "${G[@]}" ls-tree "$root"; printf '100644 blob %s\thuge\n' "$blob"; } |
	"${G[@]}" mktree)
newtree=$( { "${G[@]}" ls-tree "$head^{tree}" | grep -v "	root\$";
	printf '040000 tree %s\troot\n' "$newroot"; } | "${G[@]}" mktree)
msg=$("${G[@]}" cat-file commit "$head" | sed '1,/^$/d' |
	sed 's/^Tier-Revision: .*/Tier-Revision: 3/')
commit=$(printf '%s\n' "$msg" | "${G[@]}" commit-tree "$newtree" -p "$head")
printf '%s\n%s\n%s\n' "$commit" "$newtree" "$newroot" |
	"${G[@]}" pack-objects -q "$TT_TMP/tiers/a/log.git/objects/pack/pack" >/dev/null
"${G[@]}" prune-packed
echo "$commit" >tiers/a/log.git/refs/heads/main
size=$(du -sk tiers/a/log.git | cut -f1)
if [ "$size" -lt 20000 ]; then
	pass "the log of tier a is small (${size} KiB) and holds a 1 GiB blob"
else
	fail "the log of tier a is ${size} KiB"
fi

# Every tool run below goes through /usr/bin/time: its peak RSS in KiB.
mkdir -p wrap
for t in tier-fsck tier-log; do
	printf '#!/bin/sh\nexec /usr/bin/time -f %%M -o "%s/rss" "%s/%s" "$@"\n' \
		"$TT_TMP" "$TIER_TOOLS_DIR" "$t" >"wrap/$t"
	chmod +x "wrap/$t"
done
real_tools=$TIER_TOOLS_DIR
expect_rss_below() {
	local kib
	kib=$(tail -n 1 "$TT_TMP/rss" 2>/dev/null)
	if [ -n "$kib" ] && [ "$kib" -lt "$1" ]; then
		pass "$TT_CMD: peak RSS ${kib} KiB < $1 KiB"
	else
		fail "$TT_CMD: peak RSS '${kib}' KiB, not below $1 KiB"
	fi
}

step "tier-fsck: damage, named, in bounded memory"
TIER_TOOLS_DIR=$TT_TMP/wrap
run_tool tier-fsck -t "a=$a"
expect_exit 5
expect_rss_below 65536
expect_stdout_match "^error \[object-too-large\] tier 'a': revision 3: the node of /huge \(object [0-9a-f]{12}\) is 1073741824 bytes, over the format's limit"
run_tool tier-fsck -t "a=$a" --json
expect_exit 5
expect_json_object
expect_json '[.problems[] | select(.id == "object-too-large")][0].object' /huge
expect_rss_below 65536

step "tier-log --stat and the diff fail with one line"
run_tool tier-log -t "a=$a" --stat
expect_exit 1
expect_stderr_one_line
expect_stderr_match "huge.*1073741824 bytes, over the format's limit"
expect_rss_below 65536
run_tool tier-log -t "a=$a" 2 3
expect_exit 1
expect_stderr_one_line
expect_stderr_match "/huge"
expect_rss_below 65536
run_tool tier-log -t "a=$a" 1 2
expect_exit 0
expect_stdout_match "^A  .*/small.txt"
TIER_TOOLS_DIR=$real_tools
