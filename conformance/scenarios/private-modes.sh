#!/usr/bin/env bash
# Issue 12 point 5: a vault on a file:// tier holds root's 0600 files, so
# nothing the tools write there (or in the state directory) may be readable
# by anyone else, whatever the umask the tools are started with.  A tier
# root made set-group-ID on purpose is shared with its group, read only.
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/sub"
printf 'secret\n' >"$src/sub/secret.txt"
chmod 0600 "$src/sub/secret.txt"
head -c 200000 /dev/urandom >"$src/big.bin"

# only_private DIR [FIND ARGS]: nothing under DIR has a group or other bit.
only_private() {
	local dir=$1 found
	shift
	found=$(find "$dir" "$@" -perm /077 -printf '%m %p\n' | head -n 5)
	if [ -z "$found" ]; then
		pass "nothing under $dir is readable by others"
	else
		fail "readable by others under $dir: $found"
	fi
}

umask 022
mkdir -p tiers/made-by-me
step "init and push under umask 022"
run_tool tier-init -s state -t "new=file://$TT_TMP/tiers/new" \
	-t "mine=file://$TT_TMP/tiers/made-by-me"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0
printf 'more\n' >"$src/sub/more.txt"
run_tool tier-push -s state "$src"
expect_exit 0
run_tool tier-sync -s state
expect_exit 0

# a root that tier-init created is private too; one made by the user keeps
# its mode (only the names directly in it show), all below it is private
only_private tiers/new
only_private tiers/made-by-me -mindepth 1
only_private state
n=$(find tiers/new/data -type f | wc -l)
if [ "$n" -gt 0 ]; then pass "packs written ($n)"; else fail "no pack on the tier"; fi

step "a set-group-ID root is shared with its group, for reading"
mkdir -p tiers/shared
# as root, a group of nobody's: every file must take it from the root
group=$(id -g)
if [ "$(id -u)" = 0 ]; then group=54321; fi
chgrp "$group" tiers/shared
chmod 2750 tiers/shared
run_tool tier-init -s state2 -t "shared=file://$TT_TMP/tiers/shared"
expect_exit 0
run_tool tier-push -s state2 "$src"
expect_exit 0
bad=$(find tiers/shared -mindepth 1 \( -perm /027 -o \
	\( -type d ! -perm -2750 \) -o \( -type f ! -perm -0640 \) \) \
	-printf '%m %p\n' | head -n 5)
if [ -z "$bad" ]; then
	pass "shared tier: directories 2750, files 0640"
else
	fail "shared tier modes: $bad"
fi
only_private state2
bad=$(find tiers/shared ! -group "$group" -printf '%g %p\n' | head -n 5)
if [ -z "$bad" ]; then pass "shared tier: all in group $group"; else fail "not in group $group: $bad"; fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	# as_user UID GID DEST: tier-restore from the shared tier as that user
	as_user() {
		setpriv --reuid="$1" --regid="$2" --clear-groups env \
			HOME="$TT_TMP/restores" "$TIER_TOOLS_DIR/tier-restore" \
			-t "file://$TT_TMP/tiers/shared" "$3" \
			>/dev/null 2>"$TT_TMP/restores/err" </dev/null
	}
	chmod 755 "$TT_TMP" "$TT_TMP/tiers"
	mkdir -m 777 restores
	if as_user 12345 "$group" restores/member &&
		cmp -s "$src/sub/more.txt" "restores/member$src/sub/more.txt"; then
		pass "a member of the group restored the vault"
	else
		fail "a member of the group could not restore: $(cat restores/err)"
	fi
	if ! as_user 12346 54322 restores/other &&
		grep -q 'permission denied' restores/err; then
		pass "another user cannot read the shared vault"
	else
		fail "another user read the shared vault: $(cat restores/err)"
	fi
fi

step "restored entries keep their recorded modes"
run_tool tier-restore -s state out
expect_exit 0
m=$(stat -c %a "out$src/sub/secret.txt")
if [ "$m" = 600 ]; then pass "0600 file restored 0600"; else fail "restored as $m"; fi
m=$(stat -c %a "out$src/big.bin")
if [ "$m" = 644 ]; then pass "0644 file restored 0644"; else fail "restored as $m"; fi
