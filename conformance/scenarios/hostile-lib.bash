# Helpers for the hostile-* scenarios (sourced; not a scenario itself):
# after a normal push to the tier under test, rewrite its head commit with
# stock git plumbing into a tier an attacker could have left there, then
# run the reading tools with canaries beside DEST and their memory measured.
#
#	. "$(dirname "$0")/hostile-lib.bash"
#	hostile_init                    # push $SRC, canaries, craft repo
#	hostile_add_file '../x' "$(hostile_node_of a.txt)"
#	hostile_commit                  # the tier's head now has the new tree
#	hostile_reset                   # next round: back to the pushed head
#	mem_tool tier-restore -t "server=$SRV" out
#	expect_mem_below 64
#	expect_canaries_untouched
#
# The tier must be one the scenario can write with git: a file:// tier, or
# a remote one served from a local directory (--tier-dir).  Elsewhere the
# scenario skips.  Nothing is written outside the scenario's own tier
# sub-directory and its temporary directory.
# shellcheck source=../conf.sh
. "$(dirname "${BASH_SOURCE[0]}")/../conf.sh"

# Memory a reading tool may use on a hostile tier (issue 12: objects are
# size-checked before they are inflated; the format's bounds are 64 MiB).
HOSTILE_MEM_MIB=64

hg() { git --git-dir="$HOSTILE_CRAFT" "$@"; }

# hostile_init: vault on the tier under test, one push of $SRC (copied to
# $TT_TMP/want), canaries beside the restore destinations, and a scratch
# repository ($HOSTILE_CRAFT) that borrows the tier's objects.
HOSTILE_NEEDS="the scenario crafts the tier with git: it needs a file:// tier (or --tier-dir)"
hostile_init() {
	local u=${TIER_CONF_URL:-file://}
	u=${u#fault+}
	case $u in
	file://*) ;;
	*) [ -n "${TIER_CONF_DIR:-}" ] || skip "$HOSTILE_NEEDS" ;;
	esac
	conf_init
	[ -n "$SRV_DIR" ] && [ -d "$SRV_DIR" ] || skip "$HOSTILE_NEEDS"
	tool tier-push -s state "$SRC"
	expect_exit 0
	[ "$TT_EXIT" = 0 ] || exit 1
	snapshot want
	HOSTILE_LOG=$SRV_DIR/log.git
	HOSTILE_CRAFT=$TT_TMP/craft.git
	git init -q --bare "$HOSTILE_CRAFT" || exit 2
	echo "$HOSTILE_LOG/objects" >"$HOSTILE_CRAFT/objects/info/alternates"
	HOSTILE_HEAD=$(tr -d '\n' <"$HOSTILE_LOG/refs/heads/main")
	# The snapshot directory of $SRC, as git spells it (escaped names):
	# the tree that holds a.txt.
	local p
	p=$(hg ls-tree -r -z --name-only "$HOSTILE_HEAD" root | tr '\0' '\n' |
		grep -m 1 '/a\.txt$')
	HOSTILE_SRC_PATH=${p%/a.txt}
	HOSTILE_SRC_TREE=$(hg rev-parse "$HOSTILE_HEAD:$HOSTILE_SRC_PATH")
	[ -n "$HOSTILE_SRC_TREE" ] || { echo "hostile: no snapshot of $SRC" >&3; exit 2; }
	: >"$TT_TMP/hostile.entries"

	CANARY=$TT_TMP/canary
	CANARY_FILE=$TT_TMP/canary-file
	_canaries
}

# Canaries: an empty directory beside every DEST, and a file of mode 0600;
# made afresh for each round, so that a round sees only its own harm.
_canaries() {
	rm -rf "$CANARY" "$CANARY_FILE"
	mkdir "$CANARY"
	chmod 0755 "$CANARY"
	printf 'canary\n' >"$CANARY_FILE"
	chmod 0600 "$CANARY_FILE"
	touch -d '2001-02-03 04:05:06' "$CANARY" "$CANARY_FILE"
	HOSTILE_CANARY_STATE=$(canary_state)
}

canary_state() {
	stat -c '%n %F %a %s %Y %i' "$CANARY" "$CANARY_FILE"
	ls -A "$CANARY"
	cat "$CANARY_FILE"
}

# hostile_node_of NAME: the node blob id of $SRC/NAME in the pushed revision.
hostile_node_of() {
	hg rev-parse "$HOSTILE_SRC_TREE:$1"
}

# hostile_blob FILE: store FILE as a blob, print its id (streams big files).
hostile_blob() {
	hg hash-object -w "$1"
}

# hostile_symlink_node TARGET: a node blob for a symlink to TARGET.
hostile_symlink_node() {
	local t=$1 enc= i c
	for ((i = 0; i < ${#t}; i++)); do
		c=${t:i:1}
		case $c in
		[[:graph:]]) [ "$c" = % ] && enc+=%25 || enc+=$c ;;
		*) enc+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf 'tier-node 1\ntype symlink\nmode 777\nuid %s\ngid %s\nsize 0\nmtime 1700000000.000000000\nctime 1700000000.000000000\nino 1\ndev 1\ntarget %s\n' \
		"$(id -u)" "$(id -g)" "$enc" | hg hash-object -w --stdin
}

# hostile_dir_node MODE: a node blob for a directory's own metadata ("%").
hostile_dir_node() {
	printf 'tier-node 1\ntype dir\nmode %s\nuid %s\ngid %s\nsize 0\nmtime 1700000000.000000000\nctime 1700000000.000000000\nino 2\ndev 1\n' \
		"$1" "$(id -u)" "$(id -g)" | hg hash-object -w --stdin
}

# Raw tree entries: "<mode> <name>\0<20 bytes>", written by hand because
# git mktree refuses the names a hostile tier holds ('/', duplicates).
_raw_entry() { # mode name oid
	printf '%s %s\0' "$1" "$2"
	printf "$(sed 's/../\\x&/g' <<<"$3")"
}

# hostile_raw_tree FILE MODE NAME OID [MODE NAME OID]...: a tree object of
# exactly these entries, in this order; prints its id.
hostile_raw_tree() {
	local f=$1
	shift
	: >"$f"
	while [ $# -ge 3 ]; do
		_raw_entry "$1" "$2" "$3" >>"$f"
		shift 3
	done
	hg hash-object -t tree --literally -w "$f"
}

# hostile_add MODE NAME OID: append an entry to the directory $SRC/hostile
# the attack adds to the snapshot (entries in the order of the calls, after
# its own "%").  MODE 100644 is a node blob, 40000 a directory tree.  The
# attack lives in a directory of its own: a tool may skip the whole
# directory holding a bad entry (it is a corrupt tree) or only the entry;
# either way everything else of $SRC must restore byte for byte.
hostile_add() {
	_raw_entry "$1" "$2" "$3" >>"$TT_TMP/hostile.entries"
}

# hostile_replace NAME OID: the entry NAME of $SRC's directory points at OID.
HOSTILE_REPLACE=()
hostile_replace() { HOSTILE_REPLACE+=("$1" "$2"); }

# hostile_reset: forget the entries added so far; the next hostile_commit
# rewrites the pushed head again (one attack per round: a tool that stops
# at the first bad entry still meets each one); fresh canaries.
hostile_reset() {
	: >"$TT_TMP/hostile.entries"
	HOSTILE_REPLACE=()
	_canaries
}

# _set_entry TREE NAME MODE TYPE OID: TREE with entry NAME set (mktree).
_set_entry() {
	{
		hg ls-tree -z "$1" | tr '\0' '\n' | awk -F '\t' -v n="$2" '$2 != n' |
			tr '\n' '\0'
		printf '%s %s %s\t%s\0' "$3" "$4" "$5" "$2"
	} | hg mktree -z
}

# hostile_commit: write the new snapshot directory, the trees above it and
# a commit replacing the head (same parent, message and trailers), pack
# the new objects into the tier's log.git and move its head there.
hostile_commit() {
	local leaf=$TT_TMP/hostile.tree path tree sub name up i parent msg
	hg cat-file tree "$HOSTILE_SRC_TREE" >"$leaf.orig"
	if [ ${#HOSTILE_REPLACE[@]} -gt 0 ]; then
		# rebuild the original entries with the replacements (names here
		# are ordinary: mktree may check them)
		tree=$HOSTILE_SRC_TREE
		for ((i = 0; i < ${#HOSTILE_REPLACE[@]}; i += 2)); do
			tree=$(_set_entry "$tree" "${HOSTILE_REPLACE[i]}" 100644 blob \
				"${HOSTILE_REPLACE[i + 1]}")
		done
		hg cat-file tree "$tree" >"$leaf.orig"
	fi
	tree=$(hg hash-object -t tree --literally -w "$leaf.orig")
	if [ -s "$TT_TMP/hostile.entries" ]; then
		{
			_raw_entry 100644 % "$(hostile_dir_node 755)"
			cat "$TT_TMP/hostile.entries"
		} >"$leaf"
		sub=$(hg hash-object -t tree --literally -w "$leaf")
		tree=$(_set_entry "$tree" hostile 040000 tree "$sub")
	fi
	sub=$tree
	# up to the commit's tree, one level at a time
	path=$HOSTILE_SRC_PATH
	while :; do
		name=${path##*/}
		up=${path%/*}
		[ "$up" = "$path" ] && up=
		if [ -n "$up" ]; then
			tree=$(hg rev-parse "$HOSTILE_HEAD:$up")
		else
			tree=$(hg rev-parse "$HOSTILE_HEAD^{tree}")
		fi
		sub=$(_set_entry "$tree" "$name" 040000 tree "$sub")
		[ -n "$up" ] || break
		path=$up
	done
	parent=$(hg rev-parse -q --verify "$HOSTILE_HEAD^" || true)
	msg=$(hg cat-file commit "$HOSTILE_HEAD" | sed '1,/^$/d')
	local an ae ad cn ce cd
	{
		IFS= read -r an
		IFS= read -r ae
		IFS= read -r ad
		IFS= read -r cn
		IFS= read -r ce
		IFS= read -r cd
	} < <(hg log -1 --format='%an%n%ae%n%ad%n%cn%n%ce%n%cd' --date=raw "$HOSTILE_HEAD")
	HOSTILE_COMMIT=$(GIT_AUTHOR_NAME=$an GIT_AUTHOR_EMAIL=$ae GIT_AUTHOR_DATE=$ad \
		GIT_COMMITTER_NAME=$cn GIT_COMMITTER_EMAIL=$ce GIT_COMMITTER_DATE=$cd \
		hg commit-tree "$sub" ${parent:+-p "$parent"} <<<"$msg")
	[ -n "$HOSTILE_COMMIT" ] || { echo "hostile: commit-tree failed" >&3; exit 2; }
	# One pack of what is new (not the borrowed objects), .pack before
	# .idx as every writer of a tier does, then the head.
	local p objs=$TT_TMP/hostile.objects
	{
		(cd "$HOSTILE_CRAFT/objects" && find ?? -type f 2>/dev/null | tr -d /)
		for p in "$HOSTILE_CRAFT"/objects/pack/*.idx; do
			[ -f "$p" ] && hg show-index <"$p" | cut -d ' ' -f 2
		done
	} >"$objs"
	p=$(hg pack-objects -q "$TT_TMP/hostile-pack" <"$objs") || exit 2
	cp "$TT_TMP/hostile-pack-$p.pack" "$HOSTILE_LOG/objects/pack/pack-$p.pack"
	cp "$TT_TMP/hostile-pack-$p.idx" "$HOSTILE_LOG/objects/pack/pack-$p.idx"
	echo "$HOSTILE_COMMIT" >"$HOSTILE_LOG/refs/heads/main.new"
	mv -f "$HOSTILE_LOG/refs/heads/main.new" "$HOSTILE_LOG/refs/heads/main"
	chown -R --reference="$SRV_DIR" "$HOSTILE_LOG" 2>/dev/null || true
	echo "      crafted head $HOSTILE_COMMIT on the tier under test" >&3
}

# mem_tool NAME ARGS...: tool (run_tool with the retry options) under
# /usr/bin/time; TT_MEM_KB is its peak resident memory ("" if unknown).
mem_tool() {
	local t=$1 w=$TT_TMP/memtools
	shift
	TT_MEM_KB=
	if [ ! -x /usr/bin/time ]; then
		tool "$t" "$@"
		return 0
	fi
	mkdir -p "$w"
	printf '#!/bin/sh\nexec /usr/bin/time -f %%M -o "%s/mem.out" "%s/%s" "$@"\n' \
		"$TT_TMP" "$TIER_TOOLS_DIR" "$t" >"$w/$t"
	chmod +x "$w/$t"
	rm -f "$TT_TMP/mem.out"
	local real=$TIER_TOOLS_DIR
	TIER_TOOLS_DIR=$w
	tool "$t" "$@"
	TIER_TOOLS_DIR=$real
	# the last line: GNU time puts "Command exited with ..." before it
	[ -f "$TT_TMP/mem.out" ] && TT_MEM_KB=$(tail -n 1 "$TT_TMP/mem.out")
	return 0
}

# expect_mem_below MIB: the last mem_tool run peaked below MIB MiB.
expect_mem_below() {
	if [ -z "$TT_MEM_KB" ]; then
		echo "      (no /usr/bin/time: memory of '$TT_CMD' not measured)" >&3
		return 0
	fi
	if [ "$TT_MEM_KB" -lt $(($1 * 1024)) ]; then
		pass "$TT_CMD: peak memory $((TT_MEM_KB / 1024)) MiB < $1 MiB"
	else
		fail "$TT_CMD: peak memory $((TT_MEM_KB / 1024)) MiB, expected under $1 MiB"
	fi
}

# expect_canaries_untouched: nothing appeared in or changed the canary
# directory beside DEST, and the canary file kept its content and mode.
expect_canaries_untouched() {
	local now
	now=$(canary_state)
	if [ "$now" = "$HOSTILE_CANARY_STATE" ]; then
		pass "canary directory and file beside DEST untouched"
	else
		fail "canaries changed: was [$(tr '\n' ' ' <<<"$HOSTILE_CANARY_STATE")], now [$(tr '\n' ' ' <<<"$now")]"
	fi
}

# expect_no_file PATH: nothing exists at PATH (not even a dangling link).
expect_no_file() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		fail "$1 exists and must not"
	else
		pass "nothing at $1"
	fi
}

# expect_rest_restored DEST [NAME...]: DEST$SRC equals the backup, leaving
# out the directory "hostile" and the named entries (the ones the tier
# spoiled) from the comparison.
expect_rest_restored() {
	local dest=$1 n
	shift
	rm -rf "${dest:?}$SRC/hostile"
	rm -rf "$TT_TMP/want-rest"
	cp -a "$TT_TMP/want" "$TT_TMP/want-rest"
	for n in "$@"; do
		rm -rf "${TT_TMP:?}/want-rest/$n"
		[ -e "$dest$SRC/$n" ] || [ -L "$dest$SRC/$n" ] || continue
		# what it restored of a spoiled entry is not compared
		rm -rf "${dest:?}$SRC/$n"
	done
	same_tree "$TT_TMP/want-rest" "$dest$SRC"
}
