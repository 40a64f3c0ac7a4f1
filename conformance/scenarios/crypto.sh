#!/usr/bin/env bash
# SPEC section 8, encrypted vaults (docs/crypto.md): no marker string of the
# source (file and directory names, symlink targets, contents, the source
# path, the push message) appears anywhere on a tier, git objects inflated;
# the audit trailers stay readable by stock git; restore is byte for byte;
# a wrong password is exit 1, one line, under 2 s with the default KDF; no
# password source and no terminal is exit 2; a flipped byte in a sealed
# chunk or pack index on one tier is damage, read from the other tier and
# reported, found and mended by tier-fsck; tier-key add/list/remove/passwd
# are logged writes that sync carries to a tier that was away;
# --encryption none is plaintext.
. "$(dirname "$0")/../lib.sh"

M=QZXMARKERQZX
src=$TT_TMP/src-$M
mkdir -p "$src/dir-$M/deeper"
printf 'contents %s here\n' "$M" >"$src/dir-$M/file-$M.txt"
head -c 300000 /dev/urandom >"$src/dir-$M/deeper/random.bin"
for i in $(seq 1 50); do printf '%s line %d\n' "$M" "$i"; done >"$src/compressible-$M"
ln -s "target-$M/nowhere" "$src/link-$M"
a=$(file_tier a)
b=$(file_tier b)
export TIER_PASSWORD=correct-horse

step "tier-init encrypts by default, with the default KDF (64 MiB)"
run_tool tier-init -s state -t "a=$a" -t "b=$b" --encryption aes-256-gcm
expect_exit 0
expect_stdout_match "created encrypted vault"
run_tool tier-push -s state --message "message $M" --tag "daily" "$src"
expect_exit 0

step "the marker is nowhere on either tier"
for t in a b; do
	dir=$TT_TMP/tiers/$t
	if grep -rqa "$M" "$dir"; then
		fail "tier $t: a file holds the marker: $(grep -rla "$M" "$dir" | head -3)"
	else
		pass "tier $t: no file holds the marker"
	fi
	if git --git-dir="$dir/log.git" cat-file --batch-all-objects --batch | grep -qa "$M"; then
		fail "tier $t: a git object holds the marker"
	else
		pass "tier $t: no git object holds the marker (every object inflated)"
	fi
	if git --git-dir="$dir/log.git" log --format=%B | grep -qa "$M"; then
		fail "tier $t: a commit message holds the marker"
	fi
done
body=$(git --git-dir="$TT_TMP/tiers/a/log.git" log -1 --format=%B)
grep -q '^Tier-Op: push$' <<<"$body" && grep -q '^Tier-Files: 4$' <<<"$body" &&
	grep -q '^Tier-Host: ' <<<"$body" && grep -q '^Tier-Revision: 2$' <<<"$body" &&
	pass "stock git still shows the audit trailers" || fail "trailers: $body"
git --git-dir="$TT_TMP/tiers/a/log.git" fsck --strict >/dev/null 2>&1 &&
	pass "git fsck --strict accepts the sealed trees" || fail "git fsck --strict"

step "restore with the password: byte for byte; tier-log shows the path and message"
run_tool tier-restore -s state "$TT_TMP/out"
expect_exit 0
diff -r --no-dereference "$src" "$TT_TMP/out$src" >/dev/null &&
	pass "restored tree equals the source" || fail "restored tree differs"
[ "$(readlink "$TT_TMP/out$src/link-$M")" = "target-$M/nowhere" ] &&
	pass "symlink target restored" || fail "symlink target"
run_tool tier-log -s state --json
grep -q "$src" "$TT_STDOUT" && grep -q "message $M" "$TT_STDOUT" &&
	pass "tier-log opens the sealed path and message" || fail "tier-log: $(last_stdout)"
echo new >"$src/dir-$M/added-$M"
run_tool tier-push -s state "$src"
expect_exit 0
run_tool tier-log -s state --json 2 3
grep -q "added-$M" "$TT_STDOUT" && pass "tier-log REV1 REV2 names the added file" ||
	fail "diff: $(last_stdout)"

step "a wrong password: exit 1, one line, fast, nothing shown"
start=$(date +%s%N)
TIER_PASSWORD=wrong-horse run_tool tier-restore -s state "$TT_TMP/out2"
ms=$((($(date +%s%N) - start) / 1000000))
expect_exit 1
expect_stderr_one_line
expect_stderr_match "wrong password"
expect_stderr_no_match "wrong-horse"
[ "$ms" -lt 2000 ] && pass "refused in ${ms} ms (< 2 s)" || fail "took ${ms} ms"
[ ! -e "$TT_TMP/out2" ] && pass "nothing restored" || fail "out2 exists"

step "no password source and no terminal: exit 2, one line"
(unset TIER_PASSWORD && run_tool tier-log -s state && echo "$TT_EXIT" >"$TT_TMP/nopw.rc" && cp "$TT_STDERR" "$TT_TMP/nopw.err")
[ "$(cat "$TT_TMP/nopw.rc")" = 2 ] && pass "exit 2" || fail "exit $(cat "$TT_TMP/nopw.rc")"
[ "$(wc -l <"$TT_TMP/nopw.err")" = 1 ] && grep -q "TIER_PASSWORD" "$TT_TMP/nopw.err" &&
	pass "one line naming the sources" || fail "stderr: $(cat "$TT_TMP/nopw.err")"

step "--password-file and --password-command"
printf 'correct-horse\n' >"$TT_TMP/pw"
(unset TIER_PASSWORD && run_tool tier-log -s state --password-file "$TT_TMP/pw" && echo "$TT_EXIT" >"$TT_TMP/pf.rc")
[ "$(cat "$TT_TMP/pf.rc")" = 0 ] && pass "--password-file" || fail "--password-file exit $(cat "$TT_TMP/pf.rc")"
(unset TIER_PASSWORD && run_tool tier-log -s state --password-command "echo correct-horse" && echo "$TT_EXIT" >"$TT_TMP/pc.rc")
[ "$(cat "$TT_TMP/pc.rc")" = 0 ] && pass "--password-command" || fail "--password-command exit $(cat "$TT_TMP/pc.rc")"
(unset TIER_PASSWORD && run_tool tier-log -s state --password-command "exit 3" && echo "$TT_EXIT" >"$TT_TMP/pc3.rc")
[ "$(cat "$TT_TMP/pc3.rc")" = 2 ] && pass "a failing command: exit 2" || fail "exit $(cat "$TT_TMP/pc3.rc")"

step "a flipped byte in a sealed chunk on tier a: read from b, reported, fsck finds and mends it"
pack=$(ls "$TT_TMP"/tiers/a/data/*/* | head -1)
python3 - "$pack" 20 <<'EOF'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read())
b[off] ^= 1
open(p, 'wb').write(bytes(b))
EOF
run_tool tier-restore -s state "$TT_TMP/out3"
expect_exit 0
expect_stderr_match "tier 'a'.*(authentication|hash).*tier 'b'"
diff -r --no-dereference "$src" "$TT_TMP/out3$src" >/dev/null &&
	pass "restored from tier b byte for byte" || fail "restore from b differs"
run_tool tier-fsck -s state --read-data
expect_exit 5
expect_stdout_match "a"
run_tool tier-fsck -s state --read-data --repair
expect_exit 0
run_tool tier-fsck -s state --read-data
expect_exit 0

step "a flipped byte in a sealed pack index on tier a: read from b"
pack=$(ls -S "$TT_TMP"/tiers/a/data/*/* | head -1)
size=$(stat -c %s "$pack")
python3 - "$pack" $((size - 64 - 10)) <<'EOF'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read())
b[off] ^= 0x40
open(p, 'wb').write(bytes(b))
EOF
rm -f state/chunkidx
run_tool tier-restore -s state "$TT_TMP/out4"
expect_exit 0
diff -r --no-dereference "$src" "$TT_TMP/out4$src" >/dev/null &&
	pass "restored byte for byte" || fail "restore differs"
run_tool tier-fsck -s state --read-data
expect_exit 5
run_tool tier-fsck -s state --read-data --repair
expect_exit 0

step "a flipped byte in tier a's log (sealed trees and nodes live there): damage on a, read from b"
lpack=$(ls -S "$TT_TMP"/tiers/a/log.git/objects/pack/*.pack | head -1)
cp "$lpack" "$TT_TMP/log-pack.orig"
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x10; open(p, "wb").write(bytes(b))' "$lpack"
run_tool tier-fsck -t "a=$a"
expect_exit 5
run_tool tier-restore -t "a=$a" -t "b=$b" "$TT_TMP/out-log"
expect_exit 0
diff -r --no-dereference "$src" "$TT_TMP/out-log$src" >/dev/null &&
	pass "restored byte for byte with tier a's log damaged" || fail "restore differs"
cp "$TT_TMP/log-pack.orig" "$lpack"

step "tier-key: add, list, passwd, remove; sync carries a change to a tier that was away"
printf 'second-pw\n' >"$TT_TMP/pw2"
run_tool tier-key -s state add --new-password-file "$TT_TMP/pw2" --kdf-memory 1M
expect_exit 0
run_tool tier-key -s state list --json
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$TT_STDOUT")" = 2 ] &&
	pass "two keys listed" || fail "list: $(last_stdout)"
TIER_PASSWORD=second-pw run_tool tier-restore -t "a=$a" "$TT_TMP/out5"
expect_exit 0
pass_b=$(git --git-dir="$TT_TMP/tiers/b/log.git" rev-parse HEAD)
mv "$TT_TMP/tiers/b" "$TT_TMP/tiers/b.away"
printf 'third-pw\n' >"$TT_TMP/pw3"
TIER_PASSWORD=second-pw run_tool tier-key -s state passwd --new-password-file "$TT_TMP/pw3" --kdf-memory 1M
expect_exit 0
mv "$TT_TMP/tiers/b.away" "$TT_TMP/tiers/b"
[ "$(git --git-dir="$TT_TMP/tiers/b/log.git" rev-parse HEAD)" = "$pass_b" ] &&
	pass "tier b missed the change" || fail "tier b moved"
TIER_PASSWORD=third-pw run_tool tier-sync -s state
expect_exit 0
TIER_PASSWORD=third-pw run_tool tier-restore -t "b=$b" "$TT_TMP/out6"
expect_exit 0
TIER_PASSWORD=second-pw run_tool tier-restore -t "b=$b" "$TT_TMP/out7"
expect_exit 1
expect_stderr_match "wrong password"
TIER_PASSWORD=third-pw run_tool tier-key -s state list --json
cur=$(python3 -c 'import json,sys; print([k["id"] for k in json.load(open(sys.argv[1]))["keys"] if not k["current"]][0])' "$TT_STDOUT")
TIER_PASSWORD=third-pw run_tool tier-key -s state remove "$cur"
expect_exit 0
TIER_PASSWORD=correct-horse run_tool tier-log -s state
expect_exit 1
TIER_PASSWORD=third-pw run_tool tier-key -s state remove nosuchkey
expect_exit 1
git --git-dir="$TT_TMP/tiers/a/log.git" log --format=%B -3 | grep -q '^Tier-Op: key$' &&
	pass "key changes are logged revisions" || fail "no Tier-Op: key"

step "--encryption none: a plaintext vault, no password asked"
(unset TIER_PASSWORD && run_tool tier-init -s plain -t "p=$(file_tier p)" --encryption none &&
	run_tool tier-push -s plain "$src" && echo "$TT_EXIT" >"$TT_TMP/plain.rc")
[ "$(cat "$TT_TMP/plain.rc")" = 0 ] && pass "pushed without a password" || fail "plain push"
git --git-dir="$TT_TMP/tiers/p/log.git" cat-file --batch-all-objects --batch | grep -qa "$M" &&
	pass "names are plain text there" || fail "no marker in a plaintext vault"
run_tool tier-key -s plain list
expect_exit 1
run_tool tier-init -s bad -t "x=$(file_tier x)" --encryption rot13
expect_exit 2
expect_stderr_one_line

