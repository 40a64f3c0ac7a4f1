#!/usr/bin/env bash
# Virtual drive bench (issue 19, SPEC 10 targets):
#
#   bench/mount.sh [--size 1G] [--files 100000] [--workdir DIR] [--build DIR]
#
# 1. One --size file of random bytes, pushed to one file:// tier; then,
#    each from a cold start (page cache dropped when we may, a new mount
#    with an empty chunk cache), `cat` of it through tier-mount against
#    tier-restore of it.  Target: the mount at 0.5x restore's rate or more.
# 2. A revision of --files small files in 100 directories: `find | wc -l`
#    and `du -s` over it through a new mount.  Target: under 2 s.
# Prints the times, the rates and the ratio; checks the bytes.
set -euo pipefail
# vaults are encrypted by default (SPEC 8): the password for every tool
export TIER_PASSWORD=${TIER_PASSWORD:-bench-password}

root=$(cd "$(dirname "$0")/.." && pwd)
size=1G files=100000 work=/tmp/tier-bench-mount build=$root/build
while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=${2:?}; shift 2 ;;
	--files) files=${2:?}; shift 2 ;;
	--workdir) work=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	*) sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
	esac
done
T=$build/tools
mnt=$work/mnt
rm -rf "$work"
mkdir -p "$work/big" "$work/many" "$mnt"
cleanup() { mountpoint -q "$mnt" && fusermount3 -u "$mnt"; return 0; }
trap cleanup EXIT

now() { date +%s.%N; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
mount_it() {
	"$T/tier-mount" -q "$@" "$mnt"
	for _ in $(seq 100); do mountpoint -q "$mnt" && return 0; sleep 0.05; done
	echo "bench/mount.sh: tier-mount did not mount" >&2
	exit 1
}

echo "== generating $size and $files files in $work"
head -c "$size" /dev/urandom >"$work/big/file.bin"
bytes=$(stat -c %s "$work/big/file.bin")
python3 - "$work/many" "$files" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "d%03d" % (i % 100))
    if i < 100:
        os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%06d.txt" % i), "w") as f:
        f.write("file %d\n" % i)
PY

"$T/tier-init" -q -s "$work/state" -t "a=file://$work/tier"
"$T/tier-push" -q -s "$work/state" "$work/big"
"$T/tier-push" -q -s "$work/state" "$work/many"

echo "== 1. $size: tier-restore vs cat through the mount (cold)"
drop
t0=$(now)
"$T/tier-restore" -q -s "$work/state" -r 2 "$work/restored"
t1=$(now)
restore=$(echo "$t1 - $t0" | bc -l)
cmp "$work/big/file.bin" "$work/restored$work/big/file.bin"
rm -rf "$work/restored"
drop
mount_it -s "$work/state" --cache-dir "$work"
t0=$(now)
cat "$mnt/revisions/2$work/big/file.bin" >"$work/via-mount.bin"
t1=$(now)
fusermount3 -u "$mnt"
viamount=$(echo "$t1 - $t0" | bc -l)
cmp "$work/big/file.bin" "$work/via-mount.bin"
rm -f "$work/via-mount.bin"
mb=$(echo "$bytes / 1048576" | bc -l)
printf 'tier-restore   %6.2f s  %7.1f MiB/s\n' "$restore" "$(echo "$mb / $restore" | bc -l)"
printf 'tier-mount cat %6.2f s  %7.1f MiB/s\n' "$viamount" "$(echo "$mb / $viamount" | bc -l)"
printf 'ratio (mount rate / restore rate): %.2fx (target >= 0.5x)\n' "$(echo "$restore / $viamount" | bc -l)"

echo "== 2. find | wc -l and du -s over $files files (a new mount)"
mount_it -s "$work/state"
t0=$(now)
n=$(find "$mnt/revisions/3$work/many" | wc -l)
t1=$(now)
du -s "$mnt/revisions/3$work/many" >/dev/null
t2=$(now)
fusermount3 -u "$mnt"
printf 'find | wc -l  %6.2f s  (%d entries)\n' "$(echo "$t1 - $t0" | bc -l)" "$n"
printf 'du -s after   %6.2f s\n' "$(echo "$t2 - $t1" | bc -l)"
printf 'both          %6.2f s  (target < 2 s)\n' "$(echo "$t2 - $t0" | bc -l)"
