#!/usr/bin/env bash
# Issue 13, points 5 and 6 (restore side): a restore killed half way is
# finished by the same command (complete files kept, not rewritten; the
# partial one redone), also with --overwrite if-changed; and with PATH and no -r the
# newest revision holding PATH is used and named.
# A plaintext vault: it kills the restore at a file chosen by plaintext entry order.
export TT_ENCRYPTION=none
. "$(dirname "$0")/../lib.sh"

src=$TT_TMP/src
mkdir -p "$src/d"
for i in $(seq -w 0 23); do
	head -c 200000 /dev/urandom >"$src/d/f$i.bin"
done
# after d/ in the walk: still being written when the kill comes
head -c 24000000 /dev/urandom >"$src/z.bin"
chmod 0555 "$src/d"
touch -d '2020-01-02 03:04:05' "$src/d" "$src"
tt_at_exit "chmod -R u+w '$TT_TMP'"

same_tree() {
	if diff -r --no-dereference "$1" "$2" >/dev/null &&
		[ "$(cd "$1" && find . -printf '%p %y %m %T@\n' | sort)" = \
			"$(cd "$2" && find . -printf '%p %y %m %T@\n' | sort)" ]; then
		pass "$2 equals $1"
	else
		fail "$2 differs from $1"
	fi
}
# complete DIR: every file under its own name, with inode and ctime
complete() { find "$1" -type f ! -name '*.tier-tmp' -printf '%p %i %C@\n' | sort; }

a_url=$(file_tier a)
run_tool tier-init -s state -t "a=$a_url"
expect_exit 0
run_tool tier-push -s state "$src"
expect_exit 0

step "killed half way (TIER_TEST_RESTORE_KILL: _exit(137) as kill -9)"
export TIER_TEST_RESTORE_KILL=27
run_tool tier-restore -s state out
unset TIER_TEST_RESTORE_KILL
expect_exit 137
before=$(complete out)
n=$(printf '%s' "$before" | grep -c .)
if [ "$n" -gt 0 ] && [ "$n" -le 24 ]; then pass "$n files complete"; else fail "$n files complete"; fi
if [ -e "out$src/z.bin" ]; then fail "half-written z.bin under its name"; else pass "no partial file under its name"; fi
if [ -e "out$src/z.bin.tier-tmp" ]; then pass "the partial file is z.bin.tier-tmp"; else fail "no z.bin.tier-tmp"; fi

step "the same command again finishes, keeping what was complete"
run_tool tier-restore -s state out
expect_exit 0
expect_stderr_match "^tier-restore: restored revision 2: $((25 - n)) files?, .* into out \\($n entr(y|ies) already there kept\\)\$"
same_tree "$src" "out$src"
if [ -z "$(find out -name '*.tier-tmp')" ]; then pass "no temporary file left"; else fail "temporary files left"; fi
after=$(complete out | grep -F -f <(printf '%s\n' "$before" | cut -d' ' -f1))
if [ "$after" = "$before" ]; then pass "complete files not rewritten (inode, ctime)"; else fail "complete files rewritten"; fi

step "--overwrite if-changed into the finished DEST rewrites nothing"
before=$(complete out)
run_tool tier-restore -s state --overwrite if-changed --json out
expect_exit 0
expect_json .files 0
expect_json .kept 25
if [ "$(complete out)" = "$before" ]; then pass "nothing rewritten"; else fail "files rewritten"; fi

step "another job's revision is newer: PATH picks the newest revision holding it"
mkdir "$TT_TMP/other"
printf 'other\n' >"$TT_TMP/other/o.txt"
run_tool tier-push -s state "$TT_TMP/other"
expect_exit 0
run_tool tier-restore -s state p "$src/d/f01.bin"
expect_exit 0
expect_stderr_match '^tier-restore: using revision 2, the newest that holds the paths given \(latest is 3\)$'
expect_stderr_match '^tier-restore: restored revision 2: 1 file, '
if cmp -s "$src/d/f01.bin" "p$src/d/f01.bin"; then pass "f01.bin restored"; else fail "f01.bin not restored"; fi
run_tool tier-restore -s state --json pj "$src/d"
expect_exit 0
expect_json .revision 2
expect_json .latest 3
run_tool tier-restore -s state -r 3 p3 "$src/d/f01.bin"
expect_exit 1
expect_stderr_one_line
expect_stderr_match "'$src/d/f01.bin' is not in revision 3 \\(revision 2 is the newest that holds it\\)"
run_tool tier-restore -s state p4 /no/such/file
expect_exit 1
expect_stderr_match "'/no/such/file' is not in revision 3 \\(nor in any other\\)"
