#!/usr/bin/env bash
# tier-restore --include / --exclude / --dry-run / --overwrite (issue 18),
# each checked by what lands on disk; bad input one line, exit 2, nothing
# written.
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/docs/old" "$src/node_modules/pkg" "$src/build/obj" "$src/cache" "$src/empty"
printf 'letter\n' >"$src/docs/letter.txt"
printf 'old\n' >"$src/docs/old/note.txt"
printf 'tmp\n' >"$src/docs/scratch.tmp"
printf 'js\n' >"$src/node_modules/pkg/index.js"
printf 'o\n' >"$src/build/obj/a.o"
printf 'build\n' >"$src/build.txt"
head -c 100000 /dev/urandom >"$src/cache/blob"
ln -s docs/letter.txt "$src/link"
touch -d '2021-01-01 00:00:00' "$src/docs/letter.txt"

run_tool tier-init -s state -t "a=$(file_tier a)"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0

# files OUT: the regular files and links below OUT$src, relative, sorted
files() { (cd "$1$src" 2>/dev/null && find . \( -type f -o -type l \) | sort | tr '\n' ' '); }

step "--exclude: names at any depth, an anchored path, directories only"
run_tool tier-restore -s state --exclude node_modules --exclude '*.tmp' \
	--exclude "$src/cache" --exclude 'obj/' ex
expect_exit 0
expect_stderr_match 'left out by --include/--exclude'
got=$(files ex)
want='./build.txt ./docs/letter.txt ./docs/old/note.txt ./link '
if [ "$got" = "$want" ]; then pass "excluded entries absent, the rest there"; else fail "got: $got"; fi
if [ -d "ex$src/empty" ] && [ -d "ex$src/build" ] && [ ! -e "ex$src/build/obj" ]; then pass "empty kept, build/obj/ left out"; else fail "directories wrong"; fi
if cmp -s "$src/docs/letter.txt" "ex$src/docs/letter.txt"; then pass "letter byte for byte"; else fail "letter differs"; fi
run_tool tier-restore -s state --json --exclude 'build' ex2
expect_json .filtered 1
if [ ! -e "ex2$src/build" ] && [ -e "ex2$src/build.txt" ]; then pass "'build' leaves out build/, not build.txt"; else fail "build pattern wrong"; fi

step "--include: only matches, what they hold, and the directories above"
run_tool tier-restore -s state --include '*.txt' in1
expect_exit 0
got=$(files in1)
want='./build.txt ./docs/letter.txt ./docs/old/note.txt '
if [ "$got" = "$want" ]; then pass "only *.txt restored"; else fail "got: $got"; fi
if [ ! -e "in1$src/node_modules" ] && [ ! -e "in1$src/empty" ] && [ ! -e "in1$src/cache" ]; then pass "no directory made for a part without a match"; else fail "empty directories made: $(cd "in1$src" && ls)"; fi
run_tool tier-restore -s state --include "$src/docs" --exclude '*.tmp' in2
expect_exit 0
got=$(files in2)
want='./docs/letter.txt ./docs/old/note.txt '
if [ "$got" = "$want" ]; then pass "an included directory brings all below it, exclude wins"; else fail "got: $got"; fi
run_tool tier-restore -s state --include "$src/**/note.txt" in3
got=$(files in3)
if [ "$got" = './docs/old/note.txt ' ]; then pass "** crosses directories"; else fail "got: $got"; fi
run_tool tier-restore -s state --include '*.js' in4 "$src/node_modules"
expect_exit 0
got=$(files in4)
if [ "$got" = './node_modules/pkg/index.js ' ]; then pass "--include with a PATH"; else fail "got: $got"; fi

step "--dry-run: counts and bytes, nothing written"
run_tool tier-restore -s state --dry-run --json dry
expect_exit 0
expect_json .dry_run true
expect_json .files 8
expect_json .bytes "$(cat "$src"/docs/letter.txt "$src"/docs/old/note.txt "$src"/docs/scratch.tmp "$src"/node_modules/pkg/index.js "$src"/build/obj/a.o "$src"/build.txt "$src"/cache/blob | wc -c)"
if [ ! -e dry ]; then pass "dry run made no DEST"; else fail "dry run created DEST"; fi
run_tool tier-restore -s state --dry-run --exclude cache ex
expect_exit 0
expect_stderr_match '^tier-restore: would restore revision 2: 3 files, .* into ex \(4 entries already there kept, 1 left out'
run_tool tier-restore -s state --dry-run in1
expect_stderr_match '^tier-restore: would restore revision 2: 5 files'
if [ "$(files in1)" = './build.txt ./docs/letter.txt ./docs/old/note.txt ' ]; then pass "dry run into an existing DEST wrote nothing"; else fail "dry run wrote: $(files in1)"; fi

step "--overwrite: always (default), if-changed, never"
run_tool tier-restore -s state ow
expect_exit 0
f=ow$src/docs/letter.txt
# same size and mtime, other contents: only always sees it
printf 'LETTER\n' >"$f"
touch -d '2021-01-01 00:00:00' "$f"
run_tool tier-restore -s state --overwrite if-changed ow
expect_exit 0
if [ "$(cat "$f")" = LETTER ]; then pass "if-changed keeps a file of the same size and mtime"; else fail "if-changed rewrote it"; fi
run_tool tier-restore -s state --overwrite never --dry-run --json ow
expect_json .skipped 0
expect_json .kept 8
run_tool tier-restore -s state --dry-run --json ow
expect_json .files 1
run_tool tier-restore -s state ow
expect_exit 0
if cmp -s "$src/docs/letter.txt" "$f"; then pass "always compares contents and replaces it"; else fail "always kept other contents"; fi
printf 'mine, longer\n' >"$f"
printf 'mine\n' >"ow$src/build.txt"
rm "ow$src/link" && ln -s elsewhere "ow$src/link"
run_tool tier-restore -s state --overwrite never --json ow
expect_exit 0
expect_json .skipped 3
if [ "$(cat "$f")" = 'mine, longer' ] && [ "$(readlink "ow$src/link")" = elsewhere ]; then pass "never leaves changed entries"; else fail "never replaced something"; fi
rm "ow$src/docs/old/note.txt"
run_tool tier-restore -s state --overwrite never ow
if cmp -s "$src/docs/old/note.txt" "ow$src/docs/old/note.txt"; then pass "never still restores what is missing"; else fail "never did not restore a missing file"; fi
run_tool tier-restore -s state --overwrite if-changed ow
expect_exit 0
if cmp -s "$src/docs/letter.txt" "$f" && [ "$(readlink "ow$src/link")" = docs/letter.txt ]; then pass "if-changed replaces a file of another size and a symlink"; else fail "if-changed left a changed entry"; fi

step "bad input: one line, exit 2, nothing written"
for args in "--overwrite sometimes" "--overwrite=" "--include=" "--exclude /" "-r zero"; do
	# shellcheck disable=SC2086
	run_tool tier-restore -s state $args bad
	expect_exit 2
	expect_stderr_one_line
	if [ ! -e bad ]; then pass "$args: nothing written"; else fail "$args: DEST created"; fi
done
run_tool tier-restore -s state --overwrite sometimes bad
expect_stderr_match "unknown --overwrite mode 'sometimes'"
run_tool tier-restore -s state -r 9 --dry-run bad
expect_exit 1
expect_stderr_one_line
expect_stderr_match 'revision 9 does not exist'
run_tool tier-restore -s state --dry-run bad /no/such/path
expect_exit 1
expect_stderr_one_line
if [ ! -e bad ]; then pass "missing path: nothing written"; else fail "missing path: DEST created"; fi
