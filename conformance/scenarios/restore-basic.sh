#!/usr/bin/env bash
# tier-restore from the command line: full and partial restores, an older
# revision, conflicts, --json, -t without an installation, and R2 (a pack
# damaged on the first tier is read from the second, the damage reported).
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/sub" "$src/empty" "$src/.git"
printf 'alpha\n' >"$src/a.txt"
printf 'beta\n' >"$src/sub/b.txt"
printf 'name with spaces\n' >"$src/sub/with space.txt"
printf 'ref: refs/heads/main\n' >"$src/.git/HEAD"
head -c 300000 /dev/urandom >"$src/sub/random.bin"
: >"$src/zero"
chmod 0600 "$src/sub/b.txt"
ln -s a.txt "$src/link"
touch -d '2020-01-02 03:04:05.123456789' "$src/a.txt" "$src/sub" "$src"

a_url=$(file_tier a)
b_url=$(file_tier b)

# same_tree WANT GOT: contents, symlinks, modes and mtimes agree.
same_tree() {
	if diff -r --no-dereference "$1" "$2" >/dev/null &&
		[ "$(cd "$1" && find . -printf '%p %y %m %T@\n' | sort)" = \
			"$(cd "$2" && find . -printf '%p %y %m %T@\n' | sort)" ]; then
		pass "$2 equals $1"
	else
		fail "$2 differs from $1"
	fi
}

step "a vault with one revision"
run_tool tier-init -s state -t "a=$a_url" -t "b=$b_url"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0

step "full restore"
run_tool tier-restore -s state out
expect_exit 0
# 6 regular files and a symlink: a file is every non-directory entry
expect_stderr_match '^tier-restore: restored revision 2: 7 files, .* into out$'
expect_stdout_empty
same_tree "$src" "out$src"

step "restoring again keeps what is there; a file changed in DEST: never keeps it, the default replaces it"
run_tool tier-restore -s state out
expect_exit 0
expect_stderr_match '^tier-restore: restored revision 2: 0 files, .* into out \(7 entries already there kept\)$'
same_tree "$src" "out$src"
printf 'mine\n' >"out$src/sub/b.txt"
run_tool tier-restore -s state --overwrite never out
expect_exit 0
expect_stderr_match '\(6 entries already there kept, 1 left as they are \(--overwrite never\)\)$'
if [ "$(cat "out$src/sub/b.txt")" = mine ]; then pass "--overwrite never leaves the changed file"; else fail "--overwrite never replaced the changed file"; fi
run_tool tier-restore -s state -q out
expect_exit 0
expect_stderr_empty
same_tree "$src" "out$src"

step "partial restore, --json"
run_tool tier-restore -s state --json part "$src/sub"
expect_exit 0
expect_json_object
expect_json .revision 2
expect_json .files 3
expect_json .damaged 0
expect_json .errors 0
expect_json .dest part
same_tree "$src/sub" "part$src/sub"
if [ -e "part$src/a.txt" ]; then fail "a.txt restored by a partial restore"; else pass "a.txt left out"; fi

step "an older revision, and one that does not exist"
printf 'alpha, changed\n' >"$src/a.txt"
run_tool tier-push -s state "$src"
expect_exit 0
run_tool tier-restore -s state -r 2 old "${src#/}/a.txt"
expect_exit 0
if [ "$(cat "old$src/a.txt")" = alpha ]; then pass "revision 2 content"; else fail "revision 2 content: $(cat "old$src/a.txt")"; fi
run_tool tier-restore -s state -r 9 nine
expect_exit 1
expect_stderr_match 'revision 9 does not exist \(latest is 3\)'
run_tool tier-restore -s state nope /no/such/path
expect_exit 1
expect_stderr_match "'/no/such/path' is not in revision 3"
if [ -e nope ]; then fail "a bad path created DEST"; else pass "nothing written for a bad path"; fi

step "no installation: -t alone"
run_tool tier-restore -t "b=$b_url" --json tonly
expect_exit 0
expect_json .revision 3
same_tree "$src" "tonly$src"

step "R2: a damaged pack on tier a is read from tier b"
for p in "$TT_TMP"/tiers/a/data/*/*; do
	printf '\xff\xff\xff\xff' | dd of="$p" bs=1 seek=16 conv=notrunc status=none
done
run_tool tier-restore -s state damaged
expect_exit 0
expect_stderr_match "warning: tier 'a': chunk [0-9a-f]+ in pack [0-9a-f]+ fails its hash; read from tier 'b'"
same_tree "$src" "damaged$src"
run_tool tier-restore -s state --json damaged2
expect_exit 0
n=$(json_get .damaged)
if [ "${n:-0}" -gt 0 ]; then pass "damage counted ($n)"; else fail "damage not counted"; fi

step "usage"
run_tool tier-restore -s state
expect_exit 2
