#!/usr/bin/env bash
# Scale: time and peak memory against the number of files (SPEC section 11).
#
#   bench/scale.sh [--files N] [--seed N] [--workdir DIR] [--data DIR] [--build DIR] [--keep]
#
# Generates N small files (default 100000; 0-4 KiB each, fixed seed, 1000 to a
# directory), then times, each as one process under GNU time (seconds and
# peak RSS): the first push to two file:// tiers with the second one away, an
# unchanged re-push, a restore, tier-fsck --read-data, tier-sync of the
# second tier (back at revision 1, so it replays every push), and two
# prunes (every chunk live; nearly every pack dead). Beside them, the
# yardsticks of issue 15: a bare metadata walk (find -printf '%s %T@') and
# cp -a of the tree, and restic and borg where installed (never installed by
# this script). Prints one table; the same goes to WORKDIR/scale.txt.
#
# Targets (issue 15): peak RSS under 64 MiB for every step at 1M files and
# within 20% between 100k and 1M; unchanged re-push at most 2x the metadata
# walk; restore at most 1.3x cp -a.  Disk: about N x 6 KiB x 4 under WORKDIR.
# --data DIR keeps the generated tree in DIR and reuses it when DIR was made
# by this script with the same --files and --seed (a 1M-file tree takes
# minutes to write).
set -euo pipefail
# vaults are encrypted by default (SPEC 8): the password for every tool
export TIER_PASSWORD=${TIER_PASSWORD:-bench-password}

root=$(cd "$(dirname "$0")/.." && pwd)
files=100000
seed=1
work=/tmp/tier-scale
build=$root/build
keep=0
data=

usage() {
	sed -n '4p' "$0" | sed 's/^# *//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--files) files=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--workdir) work=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	--data) data=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) usage ;;
	*) echo "scale.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
case "$files" in '' | *[!0-9]* | 0) echo "scale.sh: --files wants a positive number" >&2; exit 2 ;; esac
[ -x /usr/bin/time ] || { echo "scale.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
tools=$(cd "$build" && pwd)/tools
[ -x "$tools/tier-push" ] || { echo "scale.sh: no tools in '$build' (ci/build.sh release)" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
out=$work/scale.txt
: >"$out"
say() { printf '%s\n' "$*" | tee -a "$out" >&2; }

[ -n "$data" ] || data=$work/data
mkdir -p "$data"
data=$(cd "$data" && pwd)
marker="$data/../.$(basename "$data").scale"
if [ "$(cat "$marker" 2>/dev/null)" = "$files $seed" ]; then
	say "== reusing $files files (seed $seed) in $data"
else
	if [ -n "$(ls -A "$data")" ] && [ ! -e "$marker" ]; then
		echo "scale.sh: '$data' is not empty and was not made by scale.sh" >&2
		exit 2
	fi
	rm -rf "$data" "$marker"
	mkdir -p "$data"
say "== generating $files files (seed $seed) in $data"
python3 - "$data" "$files" "$seed" <<'EOF'
import os, random, sys
top, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
blob = rnd.randbytes(1 << 16)
for i in range(n):
    d = os.path.join(top, "d%03d" % (i // 100000), "e%03d" % (i // 1000 % 100))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    size = rnd.randrange(0, 4097)
    off = rnd.randrange(0, len(blob) - size + 1)
    with open(os.path.join(d, "f%06d.txt" % i), "wb") as f:
        f.write(blob[off:off + size])
EOF
echo "$files $seed" >"$marker"
fi
sync

# one step: name, then the command; appends "name seconds peak-MiB exit"
rows=()
step() {
	local name=$1 t rc=0
	shift
	sync
	/usr/bin/time -f '%e %M' -o "$work/time.out" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
	t=$(tail -n 1 "$work/time.out")
	rows+=("$name ${t% *} $(( ${t#* } / 1024 )) $rc")
	say "   $name: ${t% *} s, $(( ${t#* } / 1024 )) MiB, exit $rc"
}

say "== libtier ($tools)"
# the away tier is offline at once (no back-off: this measures the work)
R=(--retries 1 --retry-delay 1)
"$tools/tier-init" -s "$work/state" -t "a=file://$work/tier-a" -t "b=file://$work/tier-b" >/dev/null
mv "$work/tier-b" "$work/tier-b.away"   # away: pushes skip it (exit 0)
step push-first "$tools/tier-push" "${R[@]}" -q -s "$work/state" "$data"
step push-unchanged "$tools/tier-push" "${R[@]}" -q -s "$work/state" "$data"
step restore "$tools/tier-restore" "${R[@]}" -q -s "$work/state" "$work/restored"
diff -rq "$data" "$work/restored$data" >/dev/null || say "   restore: NOT EQUAL to the data"
rm -rf "$work/restored"
# cp -a right after the restore: this disk's speed with many small files
# drifts by 2x within minutes, so the two are compared side by side
step cp-a cp -a "$data" "$work/cp"
rm -rf "$work/cp"
mv "$work/tier-b.away" "$work/tier-b"   # back, at revision 1
step fsck-read-data "$tools/tier-fsck" "${R[@]}" -q --read-data -s "$work/state" -t "a=file://$work/tier-a"
step sync "$tools/tier-sync" "${R[@]}" -q -s "$work/state"
step log-stat "$tools/tier-log" "${R[@]}" -q --stat -s "$work/state"
# retention (issue 17): the first push forgotten (the second holds the
# same files), so the prune marks every chunk of N files and frees nothing;
# then a push of one directory, everything else forgotten, and a prune that
# deletes nearly every pack
"$tools/tier-forget" "${R[@]}" -q -s "$work/state" --keep-last 1 >/dev/null
step prune-all-live "$tools/tier-prune" "${R[@]}" -q -s "$work/state"
"$tools/tier-push" "${R[@]}" -q -s "$work/state" "$(find "$data" -mindepth 1 -maxdepth 1 -type d | sort | head -n 1)" >/dev/null
"$tools/tier-forget" "${R[@]}" -q -s "$work/state" --keep-last 1 >/dev/null
step prune-most-dead "$tools/tier-prune" "${R[@]}" -q -s "$work/state"

say "== yardsticks"
step find-walk find "$data" -printf '%s %T@\n'
if command -v restic >/dev/null; then
	export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$work/restic
	restic init >/dev/null 2>&1
	step restic-first restic backup -q "$data"
	step restic-unchanged restic backup -q "$data"
	step restic-restore restic restore -q latest --target "$work/restic-out"
	rm -rf "$work/restic-out"
fi
if command -v borg >/dev/null; then
	export BORG_PASSPHRASE=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
	borg init -e none "$work/borg" >/dev/null 2>&1
	step borg-first borg create "$work/borg::a" "$data"
	step borg-unchanged borg create "$work/borg::b" "$data"
	mkdir -p "$work/borg-out"
	step borg-restore sh -c "cd '$work/borg-out' && exec borg extract '$work/borg::b'"
	rm -rf "$work/borg-out"
fi

say ""
say "files: $files"
say "$(printf '%-18s %9s %9s %5s' step seconds 'peak MiB' exit)"
for r in "${rows[@]}"; do
	set -- $r
	say "$(printf '%-18s %9s %9s %5s' "$1" "$2" "$3" "$4")"
done
sec() {
	local r
	for r in "${rows[@]}"; do
		set -- $r
		[ "$1" = "$want" ] && echo "$2"
	done
	return 0
}
want=push-unchanged; u=$(sec); want=find-walk; f=$(sec)
want=restore; rs=$(sec); want=cp-a; c=$(sec)
say ""
say "unchanged push / metadata walk: $(awk -v a="$u" -v b="$f" 'BEGIN{printf "%.2f", (b>0? a/b : 0)}') (target <= 2)"
say "restore / cp -a:                $(awk -v a="$rs" -v b="$c" 'BEGIN{printf "%.2f", (b>0? a/b : 0)}') (target <= 1.3)"
peak=0
for r in "${rows[@]}"; do
	set -- $r
	case $1 in find-walk | cp-a | restic-* | borg-*) continue ;; esac
	[ "$3" -gt "$peak" ] && peak=$3
done
say "largest libtier peak RSS:       $peak MiB (target < 64 at 1M files)"
