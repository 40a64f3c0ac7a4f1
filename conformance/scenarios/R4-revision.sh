#!/usr/bin/env bash
# R4 Revision: a tier's revision is the number of commits on its log's
# first-parent chain, and every commit carries it as "Tier-Revision: N";
# tier-status, tier-push, tier-log and stock git agree, on every tier; a
# commit whose trailer lies is found by tier-fsck (exit 5).
. "$(dirname "$0")/../conf.sh"

conf_init
expect_rev server 1
expect_rev local 1

# git_revisions DIR NAME N: git's count and the trailers of DIR's log agree with N.
git_revisions() {
	local dir=$1 name=$2 want=$3 count trailers expect i
	[ -n "$dir" ] || return 0
	count=$(git --git-dir="$dir/log.git" rev-list --first-parent --count refs/heads/main 2>&1)
	check "git counts $want commits on tier '$name' (got $count)" [ "$count" = "$want" ]
	trailers=$(git --git-dir="$dir/log.git" log --first-parent --reverse \
		--format='%(trailers:key=Tier-Revision,valueonly)' refs/heads/main | grep -v '^$' | tr '\n' ' ')
	expect=
	for ((i = 1; i <= want; i++)); do expect+="$i "; done
	check "tier '$name' trailers are 1..$want in order (got '$trailers')" [ "$trailers" = "$expect" ]
}

for n in 2 3 4; do
	step "push $((n - 1)): revision $n everywhere"
	echo "change $n" >"$SRC/r4-$n.txt"
	tool tier-push -s state --json "$SRC"
	expect_exit 0
	expect_json .revision "$n"
	expect_rev server "$n"
	expect_rev local "$n"
	git_revisions "$LOCAL_DIR" local "$n"
	git_revisions "$SRV_DIR" server "$n"
done

step "tier-log of the tier under test alone numbers its revisions 1..4"
tool tier-log -t "server=$SRV" --json
expect_exit 0
expect_json '[.revisions[].revision] | sort | map(tostring) | join(" ")' "1 2 3 4"
expect_json '.revisions | length' 4
tool tier-status -t "server=$SRV" --json
expect_exit 0
expect_json .max_revision 4

step "a commit whose trailer disagrees with its position: tier-fsck finds it"
g="git --git-dir=$LOCAL_DIR/log.git"
head=$($g rev-parse refs/heads/main)
tree=$($g rev-parse "$head^{tree}")
msg=$($g log -1 --format=%B "$head" | sed 's/^Tier-Revision: .*/Tier-Revision: 9/')
forged=$(GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x \
	$g commit-tree "$tree" -p "$head" -m "$msg")
$g update-ref refs/heads/main "$forged"
$g repack -a -d -q # tiers are read through their packs only
tool tier-fsck -t "local=$LOCAL"
expect_exit 5
expect_stdout_match "Tier-Revision|trailer|revision 9|says 9"
expect_stdout_no_match "log-damaged"
$g update-ref refs/heads/main "$head"
tool tier-fsck -s state
expect_exit 0
git_fsck_both
