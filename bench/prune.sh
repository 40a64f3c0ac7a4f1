#!/usr/bin/env bash
# Retention bench (issue 17): forget + prune against restic and borg.
#
#   bench/prune.sh [--size 1G] [--revisions 10] [--mutate 5%] [--keep-last 3]
#                  [--workdir DIR] [--build DIR]
#
# Generates the data once (bench/gendata.py), then for each tool pushes
# --revisions revisions, mutating --mutate of the bytes between them, and
# times one run of the retention step on the same history:
#   libtier: tier-forget --keep-last N --prune   (one tier, file://)
#   restic:  restic forget --keep-last N --prune
#   borg:    borg prune --keep-last N && borg compact
# Reports wall time, peak RSS (GNU time) and repository size before and
# after, and checks that the newest revision still restores equal to the
# data.  Ratios are peer time / libtier time (> 1: libtier faster).
# TIER_BENCH_NO_APT=1 is honoured as in run.sh: missing peers are skipped.
set -euo pipefail
# vaults are encrypted by default (SPEC 8): the password for every tool
export TIER_PASSWORD=${TIER_PASSWORD:-bench-password}

root=$(cd "$(dirname "$0")/.." && pwd)
size=1G revisions=10 mutate=5% keep=3 work=/tmp/tier-bench-prune build=$root/build
while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=${2:?}; shift 2 ;;
	--revisions) revisions=${2:?}; shift 2 ;;
	--mutate) mutate=${2:?}; shift 2 ;;
	--keep-last) keep=${2:?}; shift 2 ;;
	--workdir) work=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	*) sed -n '4,5p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
	esac
done
tools=$build/tools
[ -x "$tools/tier-prune" ] || { echo "prune.sh: no tools in $tools (ci/build.sh release)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "prune.sh: GNU time is missing (apt-get install time)" >&2; exit 1; }
say() { printf '%s\n' "$*" >&2; }
has() { command -v "$1" >/dev/null; }

rm -rf "$work"
mkdir -p "$work/t"
T=$work/t
export RESTIC_PASSWORD=x RESTIC_CACHE_DIR=$work/home/restic-cache
export BORG_BASE_DIR=$work/home BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

timed() { # timed KEY CMD...: "wall rss_kib" into $T/KEY
	local key=$1
	shift
	if /usr/bin/time -f '%e %M' -o "$T/$key" "$@" >"$T/$key.out" 2>"$T/$key.err"; then
		say "   $key: $(cat "$T/$key") (s, KiB)"
	else
		say "prune.sh: $key failed: $(tail -n 3 "$T/$key.err")"
		echo "NA NA" >"$T/$key"
	fi
}

say "== data: $size"
python3 "$root/bench/gendata.py" "$work/data" --size "$size" --seed 1 >/dev/null
"$tools/tier-init" -q -s "$work/state" -t "a=file://$work/libtier" >/dev/null
has restic && restic -q -r "$work/restic" init >/dev/null
has borg && borg init --encryption=none "$work/borg"

say "== $revisions revisions, $mutate mutated between them"
for i in $(seq 1 "$revisions"); do
	[ "$i" -gt 1 ] && python3 "$root/bench/gendata.py" "$work/data" --mutate "$mutate" --seed "$i" >/dev/null
	"$tools/tier-push" -q -s "$work/state" "$work/data" >/dev/null
	has restic && restic -q -r "$work/restic" backup "$work/data" >/dev/null
	has borg && borg create --compression lz4 "$work/borg::r$i" "$work/data"
done
size_of() { du -sb "$1" | cut -f1; }
declare -A before after
for t in libtier restic borg; do [ -d "$work/$t" ] && before[$t]=$(size_of "$work/$t"); done

say "== retention: keep the last $keep"
sync
timed libtier "$tools/tier-forget" -q -s "$work/state" --keep-last "$keep" --prune
has restic && timed restic restic -q -r "$work/restic" forget --keep-last "$keep" --prune
has borg && timed borg sh -c "borg prune --keep-last $keep '$work/borg' && borg compact '$work/borg'"
for t in libtier restic borg; do [ -d "$work/$t" ] && after[$t]=$(size_of "$work/$t"); done

say "== check: the newest revision restores equal to the data"
"$tools/tier-restore" -q -s "$work/state" "$work/out" &&
	diff -r "$work/data" "$work/out$work/data" >/dev/null && verify=ok || verify=DIFFERS

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2f", a / b }'; }
read -r lt lm <"$T/libtier"
{
	echo "retention bench: $size, $revisions revisions ($mutate mutated each), keep the last $keep; $(date -u +%F)"
	printf '%-8s %9s %10s %14s %14s\n' tool "time s" "peak MiB" "size before" "size after"
	for t in libtier restic borg; do
		[ -f "$T/$t" ] || continue
		read -r s m <"$T/$t"
		printf '%-8s %9s %10s %14s %14s\n' "$t" "$s" "$([ "$m" = NA ] && echo NA || echo $((m / 1024)))" "${before[$t]}" "${after[$t]}"
	done
	[ -f "$T/restic" ] && echo "restic time / libtier's: $(ratio "$(cut -d' ' -f1 "$T/restic")" "$lt")"
	[ -f "$T/borg" ] && echo "borg time / libtier's:   $(ratio "$(cut -d' ' -f1 "$T/borg")" "$lt")"
	echo "libtier peak memory: $((lm / 1024)) MiB (target < 64); newest revision restores: $verify"
} | tee "$work/results.txt"
