#!/usr/bin/env bash
# tier-push's excludes (issue 18, SPEC section 9, docs/excludes.md):
# --exclude, --exclude-file, --exclude-if-present, --exclude-caches,
# --exclude-larger-than, --one-file-system.  What is left out is absent
# from tier-ls -R and from a restore, the rest comes back byte for byte;
# tier-restore's --exclude takes the same patterns to the same result;
# bad input is one line, exit 2, and no new revision.
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/node_modules/pkg" "$src/app/node_modules/x" "$src/app/lib" \
	"$src/cache/sub" "$src/fakecache" "$src/tagged" "$src/build" \
	"$src/app/build" "$src/docs" "$src/empty"
printf 'js\n' >"$src/node_modules/pkg/index.js"
printf 'x\n' >"$src/app/node_modules/x/x.js"
printf 'lib\n' >"$src/app/lib/main.c"
printf 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n' >"$src/cache/CACHEDIR.TAG"
printf 'cached\n' >"$src/cache/sub/blob"
# a tag without the signature: not a cache, backed up with its tag
printf 'Signature: 00000000000000000000000000000000\n' >"$src/fakecache/CACHEDIR.TAG"
printf 'keep\n' >"$src/fakecache/data"
touch "$src/tagged/.nobackup"
printf 'tagged\n' >"$src/tagged/file"
printf 'o\n' >"$src/build/out.o"
printf 'kept: not the top build/\n' >"$src/app/build/notes"
printf 'scratch\n' >"$src/docs/scratch.tmp"
printf 'letter\n' >"$src/docs/letter.txt"
head -c 300000 /dev/urandom >"$src/docs/big.bin"
head -c 50000 /dev/urandom >"$src/docs/small.bin"
ln -s letter.txt "$src/docs/link"
printf '# excludes of the scenario\n\n/build/\r\n*.tmp  \n' >excludes.txt

run_tool tier-init -s state -t "a=$(file_tier a)"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0
full=$(last_stdout)

# what to expect: the tree without the excluded parts
want=$TT_TMP/want
cp -a "$src" "$want"
rm -rf "$want/node_modules" "$want/app/node_modules" "$want/cache" \
	"$want/tagged" "$want/build" "$want/docs/scratch.tmp" "$want/docs/big.bin"

step "push with excludes: the excluded parts are not in the revision"
run_tool tier-push -s state --json -e node_modules --exclude-file excludes.txt \
	--exclude-caches --exclude-if-present .nobackup \
	--exclude-larger-than 100K "$src"
expect_exit 0
expect_json_object
rev=$(json_get .revision)
expect_json .stats.excluded_files 2
expect_json .stats.excluded_bytes $((8 + 300000))
# node_modules twice, build/, cache/, tagged/
expect_json .stats.excluded_dirs 5
expect_json .stats.files "$(cd "$want" && find . ! -type d | wc -l)"
run_tool tier-ls -s state -r "$rev" -R "$src"
expect_exit 0
for gone in node_modules app/node_modules cache tagged build docs/scratch.tmp docs/big.bin; do
	expect_stdout_no_match " $src/$gone(/|\$)"
done
for kept in app/lib/main.c app/build/notes fakecache/CACHEDIR.TAG fakecache/data docs/letter.txt docs/small.bin docs/link empty; do
	expect_stdout_match " $src/$kept( -> .*)?\$"
done

step "restore: everything else byte for byte"
run_tool tier-restore -s state -r "$rev" out
expect_exit 0
if diff -r "$want" "out$src" >diff.txt 2>&1; then pass "restore = the tree without the excluded parts"; else fail "restore differs: $(head -5 diff.txt)"; fi
if [ "$(readlink "out$src/docs/link")" = letter.txt ]; then pass "symlink kept"; else fail "symlink lost"; fi

step "human output counts what was left out; -vv names each"
run_tool tier-push -s state -e node_modules -e '*.tmp' "$src"
expect_exit 0
expect_stderr_match '^tier-push: excluded: 1 file \(8 B\), 2 directories$'
expect_stderr_no_match "excluded '"
run_tool tier-push -s state -vv -e node_modules --exclude-caches --exclude-larger-than 100K "$src"
expect_exit 0
expect_stderr_match "^tier-push: excluded '$src/app/node_modules' \(pattern\)$"
expect_stderr_match "^tier-push: excluded '$src/cache' \(tag\)$"
expect_stderr_match "^tier-push: excluded '$src/docs/big.bin' \(size\)$"

step "tier-restore --exclude: the same patterns, the same tree"
run_tool tier-restore -s state -r "$full" --exclude node_modules --exclude '/build/' \
	--exclude '*.tmp' --exclude cache --exclude tagged --exclude big.bin same
expect_exit 0
if diff -r "$want" "same$src" >diff2.txt 2>&1; then pass "restore --exclude of the full revision = push --exclude"; else fail "differs: $(head -5 diff2.txt)"; fi
if [ -e "same$src/app/build/notes" ]; then pass "'/build/' anchored at the pushed path in restore too"; else fail "app/build left out by /build/"; fi

step "negation: the last matching pattern wins, in both tools"
run_tool tier-push -s state --json --exclude '/docs/*' --exclude '!/docs/letter.txt' "$src"
expect_exit 0
nrev=$(json_get .revision)
run_tool tier-ls -s state -r "$nrev" -R "$src/docs"
expect_stdout_match " $src/docs/letter.txt\$"
expect_stdout_no_match " $src/docs/(small.bin|big.bin|scratch.tmp|link)"
run_tool tier-restore -s state -r "$full" --exclude '/docs/*' --exclude '!/docs/letter.txt' neg
expect_exit 0
got=$(cd "neg$src/docs" && ls -A | tr '\n' ' ')
if [ "$got" = 'letter.txt ' ]; then pass "restore: docs/ holds letter.txt alone"; else fail "docs holds: $got"; fi

step "bad input: one line, exit 2, no new revision"
run_tool tier-log -s state --json -n 1
before=$(json_get '.revisions[0].revision')
for args in "--exclude [abc" "--exclude !" "--exclude=" "--exclude-larger-than 10X" \
	"--exclude-larger-than 1.5M" "--exclude-larger-than 0" "--exclude-file missing.txt" \
	"--exclude-file $TT_TMP" "--exclude-if-present a/b"; do
	# shellcheck disable=SC2086
	run_tool tier-push -s state $args "$src"
	expect_exit 2
	expect_stderr_one_line
	expect_stdout_empty
done
run_tool tier-push -s state --exclude '[abc' "$src"
expect_stderr_match "^tier-push: bad exclude pattern '\[abc': '\[' is never closed$"
run_tool tier-push -s state --exclude-larger-than 10X "$src"
expect_stderr_match "bad --exclude-larger-than '10X'"
run_tool tier-push -s state --exclude-file missing.txt "$src"
expect_stderr_match "cannot read exclude file 'missing.txt': no such file or directory"
printf 'ok\n[x\n' >bad-excludes.txt
run_tool tier-push -s state --json --exclude-file bad-excludes.txt "$src"
expect_exit 2
expect_json .error.exit 2
expect_stderr_match "exclude file 'bad-excludes.txt' line 2"
run_tool tier-log -s state --json -n 1
expect_json '.revisions[0].revision' "$before"

step "--one-file-system: a mount point is kept empty, what is on it left out"
fs=$TT_TMP/fs
mkdir -p "$fs/mnt" "$fs/here"
printf 'here\n' >"$fs/here/file"
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP  --one-file-system: not root, cannot mount a second file system" >&3
elif ! mount -t tmpfs -o size=4m tier-test "$fs/mnt" 2>mount.err; then
	echo "SKIP  --one-file-system: mount -t tmpfs not permitted here ($(head -1 mount.err))" >&3
else
	tt_at_exit "umount '$fs/mnt'"
	printf 'other fs\n' >"$fs/mnt/there"
	mkdir "$fs/mnt/d"
	run_tool tier-push -s state --json -x "$fs"
	expect_exit 0
	orev=$(json_get .revision)
	expect_json .stats.excluded_dirs 1
	run_tool tier-ls -s state -r "$orev" -R "$fs"
	expect_stdout_match "^d.* $fs/mnt\$"
	expect_stdout_match " $fs/here/file\$"
	expect_stdout_no_match "$fs/mnt/"
	run_tool tier-restore -s state -r "$orev" ofs
	expect_exit 0
	if [ -d "ofs$fs/mnt" ] && [ -z "$(ls -A "ofs$fs/mnt")" ] && cmp -s "$fs/here/file" "ofs$fs/here/file"; then
		pass "mount point restored empty, the rest byte for byte"
	else
		fail "one-file-system restore wrong: $(cd "ofs$fs" && find . | sort | tr '\n' ' ')"
	fi
	run_tool tier-push -s state "$fs"
	expect_exit 0
	run_tool tier-ls -s state -R "$fs"
	expect_stdout_match " $fs/mnt/there\$"
	# a mount point given as the PATH itself is read
	run_tool tier-push -s state -x "$fs/mnt"
	expect_exit 0
	run_tool tier-ls -s state -R "$fs/mnt"
	expect_stdout_match " $fs/mnt/there\$"
	# as restic: the file systems of every PATH count, also one inside
	# another PATH (-x / /home keeps /home)
	run_tool tier-push -s state --json -x "$fs" "$fs/mnt"
	expect_exit 0
	expect_json .stats.excluded_dirs 0
	run_tool tier-ls -s state -R "$fs"
	expect_stdout_match " $fs/mnt/there\$"
	expect_stdout_match " $fs/here/file\$"
fi
