#!/usr/bin/env bash
# The virtual drive (issue 19): tier-mount shows two revisions; every file
# of each read through the mount equals the source as it was, by bytes,
# mode, owner, size, mtime and symlink target; latest, tags; a pack
# corrupted on the first tier is read around and reported; with no tier
# left a read fails with EIO in seconds and the mount stays up; fusermount3
# -u and SIGTERM unmount, leaving no mount, process or cache behind.
. "$(dirname "$0")/../lib.sh"

[ -e /dev/fuse ] && command -v fusermount3 >/dev/null ||
	skip "no /dev/fuse or fusermount3 here"

src=$TT_TMP/src
mkdir -p "$src/docs/deep" "$src/empty"
head -c 3000000 /dev/urandom >"$src/docs/big.bin"
printf 'one\n' >"$src/keep.txt"
printf 'x\n' >"$src/docs/deep/.hidden"
printf 'sp\n' >"$src/docs/with space"
chmod 0640 "$src/keep.txt"
chmod 0700 "$src/docs/deep"
ln -s ../keep.txt "$src/docs/link"
touch -d '2020-02-03 04:05:06.789' "$src/keep.txt"

ctl=$TT_TMP/a.control
: >"$ctl"
a_url="fault+$(file_tier a)?fault=$ctl"
b_url=$(file_tier b)
fast=(--retries 2 --retry-delay 1)
mnt=$TT_TMP/mnt
mkdir -p "$mnt" cache
mount_pid=

unmount() {
	if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"; fi
	[ -n "$mount_pid" ] && wait "$mount_pid" 2>/dev/null
	mount_pid=
	return 0
}
tt_at_exit unmount

# mount_fg ARGS...: tier-mount -f in the background, ready when mounted
mount_fg() {
	TT_RUNS=$((TT_RUNS + 1))
	mount_log=$TT_RESULTS/$TT_RUNS.mount.stderr
	"$TIER_TOOLS_DIR/tier-mount" -f "$@" "$mnt" 2>"$mount_log" &
	mount_pid=$!
	for _ in $(seq 100); do
		mountpoint -q "$mnt" && { pass "mounted ($*)"; return 0; }
		kill -0 "$mount_pid" 2>/dev/null || break
		sleep 0.1
	done
	fail "tier-mount $* did not mount: $(head -3 "$mount_log" | tr '\n' ' ')"
	return 1
}

# expect_ended HOW: the foreground tier-mount exited 0, nothing mounted
expect_ended() {
	local rc=0
	wait "$mount_pid" || rc=$?
	mount_pid=
	[ "$rc" -eq 0 ] && pass "tier-mount exited 0 after $1" || fail "tier-mount exited $rc after $1"
	mountpoint -q "$mnt" && fail "still mounted after $1" || pass "unmounted by $1"
}

# entries DIR: path, type, mode, owner (not of directories), mtime in
# seconds, symlink target of everything below DIR, sorted
entries() {
	(cd "$1" && find . -printf '%P\t%y\t%m\t%U\t%G\t%T@\t%l\n' |
		awk -F'\t' -v OFS='\t' '{ split($6, t, "."); $6 = t[1]; if ($2 == "d") { $4 = "-"; $5 = "-" } print }' | sort)
}

# same TREE_IN_MOUNT SOURCE_COPY: every entry equal by type, mode, owner,
# size, mtime (to the second), symlink target and bytes
same() {
	local got=$1 want=$2
	entries "$want" >want.list
	entries "$got" >got.list
	if cmp -s want.list got.list; then
		pass "$got: $(wc -l <got.list) entries equal the source by type, mode, owner, mtime, target"
	else
		fail "$got differs from the source: $(diff want.list got.list | head -6 | tr '\n' ' ')"
	fi
	(cd "$want" && find . -type f -printf '%P\n') | while IFS= read -r f; do
		cmp -s "$want/$f" "$got/$f" || echo "$f"
	done >diff.list
	if [ -s diff.list ]; then fail "bytes differ through the mount: $(head -3 diff.list | tr '\n' ' ')"; else pass "every file of $got has the source's bytes"; fi
	local ws gs
	ws=$(cd "$want" && find . -type f -printf '%P %s\n' | sort | md5sum)
	gs=$(cd "$got" && find . -type f -printf '%P %s\n' | sort | md5sum)
	[ "$ws" = "$gs" ] && pass "sizes equal" || fail "sizes differ through the mount"
}

step "two revisions, tagged"
run_tool tier-init -s state -t "a=$a_url" -t "b=$b_url"
expect_exit 0
run_tool tier-push -s state --tag weekly "$src"
expect_exit 0
cp -a "$src" want2
printf 'two\n' >>"$src/keep.txt"
rm "$src/docs/with space"
ln -s docs/big.bin "$src/new-link"
run_tool tier-push -s state "$src"
expect_exit 0
cp -a "$src" want3

step "the drive: revisions/2, revisions/3, latest, tags"
mount_fg -s state --cache-dir "$TT_TMP/cache"
[ "$(readlink "$mnt/latest")" = revisions/3 ] && pass "latest -> revisions/3" || fail "latest is '$(readlink "$mnt/latest")'"
[ "$(ls "$mnt/revisions" | tr '\n' ' ')" = "2 3 " ] && pass "revisions/ lists 2 and 3" || fail "revisions/ lists: $(ls "$mnt/revisions" | tr '\n' ' ')"
[ "$(readlink "$mnt/tags/weekly/2")" = ../../revisions/2 ] && pass "tags/weekly/2 -> revisions/2" || fail "tags/weekly: $(ls -l "$mnt/tags/weekly" 2>&1)"
[ -d "$mnt/archive" ] && pass "archive/ is there (empty)" || fail "no archive/"
same "$mnt/revisions/2$src" want2
same "$mnt/latest$src" want3
mountpoint -q "$mnt" && fusermount3 -u "$mnt" && wait "$mount_pid"
mount_fg -s state --cache-dir "$TT_TMP/cache"
r1=0 r2=0 r3=0
cmp -s "$mnt/revisions/2$src/docs/big.bin" want2/docs/big.bin & p1=$!
cmp -s "$mnt/latest$src/docs/big.bin" want3/docs/big.bin & p2=$!
cmp -s "$mnt/revisions/3$src/docs/big.bin" want3/docs/big.bin & p3=$!
wait $p1 || r1=$?; wait $p2 || r2=$?; wait $p3 || r3=$?
[ "$r1$r2$r3" = 000 ] && pass "three readers at once on a cold cache get the right bytes" || fail "readers at once: cmp exits $r1 $r2 $r3"
ls -d "$TT_TMP"/cache/tier-mount-cache.* >/dev/null 2>&1 && pass "the chunk cache is in --cache-dir" || fail "no cache in --cache-dir"
if echo x >"$mnt/latest$src/keep.txt" 2>/dev/null; then fail "a write to the drive succeeded"; else pass "the drive is read-only"; fi
[ ! -e "$mnt/revisions/1" ] && [ ! -e "$mnt/revisions/9" ] && pass "no revisions/1 (no push) or /9" || fail "revisions/1 or /9 exists"

step "fusermount3 -u: nothing left behind"
fusermount3 -u "$mnt"
expect_ended "fusermount3 -u"
ls -d "$TT_TMP"/cache/tier-mount-cache.* >/dev/null 2>&1 && fail "the cache directory is left" || pass "the cache directory is gone"

step "a pack corrupted on tier a: the bytes come from tier b, the damage is reported"
for p in $(find "$TT_TMP/tiers/a/data" -type f); do
	sz=$(stat -c %s "$p")
	printf '\xa5\x5a\xa5\x5a' | dd of="$p" bs=1 seek=$((sz / 2)) conv=notrunc status=none
done
mount_fg -s state "${fast[@]}"
cmp -s "$mnt/latest$src/docs/big.bin" want3/docs/big.bin && pass "big.bin read right through the mount" || fail "big.bin differs through the mount"
grep -q "tier 'a'" "$mount_log" && pass "the damage on tier a is reported: $(grep -m1 "tier 'a'" "$mount_log" | cut -c1-120)" || fail "no report of tier a's damage: $(head -3 "$mount_log" | tr '\n' ' ')"

step "tier a dies under the mounted drive: reads go on from tier b"
echo offline >"$ctl"
start=$(date +%s)
# a file this mount has not read yet (big.bin's chunks are in the cache)
cmp -s "$mnt/revisions/2$src/docs/with space" "want2/docs/with space" && pass "a file not read before, read with tier a offline" || fail "'with space' differs with tier a offline"
took=$(($(date +%s) - start))
[ "$took" -le 20 ] && pass "within the retry budget (${took}s)" || fail "the fail-over took ${took}s"

step "no tier left: EIO within seconds, the mount stays up"
mv "$TT_TMP/tiers/b/data" "$TT_TMP/b-data"
start=$(date +%s)
if cat "$mnt/revisions/2$src/keep.txt" >/dev/null 2>cat.err; then fail "a read with no tier left succeeded"; else pass "the read fails: $(head -1 cat.err)"; fi
grep -q 'Input/output error' cat.err && pass "with EIO" || fail "not EIO: $(cat cat.err)"
took=$(($(date +%s) - start))
[ "$took" -le 20 ] && pass "in ${took}s" || fail "the failing read took ${took}s"
ls "$mnt/revisions" >/dev/null && pass "the mount is still up" || fail "the mount is gone after a failed read"
mv "$TT_TMP/b-data" "$TT_TMP/tiers/b/data"
: >"$ctl"
cmp -s "$mnt/revisions/2$src/docs/deep/.hidden" want2/docs/deep/.hidden && pass "reads work again once tier b is back" || fail "reads still fail with tier b back"

step "SIGTERM unmounts"
kill -TERM "$mount_pid"
expect_ended SIGTERM

step "-t alone, detached; bad input"
run_tool tier-mount -t "b=$b_url" "$mnt"
expect_exit 0
mountpoint -q "$mnt" && pass "mounted in the background with -t alone" || fail "not mounted"
cmp -s "$mnt/latest$src/new-link" want3/docs/big.bin && pass "a file through a symlink of the drive" || fail "new-link differs"
fusermount3 -u "$mnt"
for _ in $(seq 50); do pgrep -f "tier-mount -t b=$b_url" >/dev/null || break; sleep 0.1; done
pgrep -f "tier-mount -t b=$b_url" >/dev/null && fail "the detached tier-mount still runs" || pass "the detached tier-mount ended"
run_tool tier-mount -s state "$TT_TMP/no/such"
expect_exit 2
expect_stderr_one_line
expect_stderr_match "not a directory"
run_tool tier-mount -s state
expect_exit 2
