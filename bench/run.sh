#!/usr/bin/env bash
# Peer comparison: libtier vs restic vs borg on generated data.
#
#   bench/run.sh [--size 1G] [--seed N] [--runs N] [--keep] [--workdir DIR]
#                [--build DIR | --head]
#
# Generates the data once (bench/gendata.py), then in each of --runs rounds
# (default 3; the tools take turns going first) times for every tool: first
# push, unchanged re-push, push after a 1% mutation and a full restore, with
# a warm page cache.  Reports the best time of the rounds, repository sizes
# (du -sb), peak RSS (GNU time), bench-cdcspeed's two-thread ceiling, push
# with a cold page cache vs cat of the data, and tier-sync of a tier that was
# away vs cp -r of the same bytes.  Prints a table and the issue's targets
# with PASS/MISS; the same goes to WORKDIR/results.txt (kept with --keep).
#
#   --build DIR  tools from DIR (default: build/, made by ci/build.sh release)
#   --head       build the committed HEAD (git archive) in WORKDIR/build first
#
# Other work on the machine slows whichever tool runs at that moment: the
# report gives every round and the CPU pressure (share of the time something
# waited for a CPU) over the run; the best of the rounds is the one compared.
#
# Disk: about 6 GiB per round under WORKDIR.  Nothing is deleted until the
# end: ext4 skips inodes freed in the last minutes when it allocates new
# ones, which makes creating files after a big rm -rf several times slower
# and would penalise whichever tool restores after a deletion.
# TIER_BENCH_NO_APT=1: never call apt-get (missing peers are skipped).
set -euo pipefail
# vaults are encrypted by default (SPEC 8): the password for every tool
export TIER_PASSWORD=${TIER_PASSWORD:-bench-password}

root=$(cd "$(dirname "$0")/.." && pwd)
size=1G
seed=1
runs=3
keep=0
head=0
work=/tmp/tier-bench
build=

usage() {
	sed -n '4,5p' "$0" | sed 's/^# *//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	--workdir) work=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	--head) head=1; shift ;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
case "$runs" in '' | *[!0-9]* | 0) echo "run.sh: --runs wants a positive number" >&2; exit 2 ;; esac

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

mkdir -p "$work"
work=$(cd "$work" && pwd)

# Old results are moved aside now and deleted at the very end (see above).
trash=$work/trash.$$
mkdir -p "$trash"
for old in "$work"/run* "$work"/sync "$work"/home "$work"/t "$work"/results.txt "$work"/apt.log; do
	[ -e "$old" ] && mv "$old" "$trash/"
done
cleanup() {
	rm -rf "$trash"
	if [ "$keep" = 0 ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------

src=$root
if [ "$head" = 1 ]; then
	say "== building HEAD in $work/build"
	# shellcheck source=bench/head-lib.sh
	. "$root/bench/head-lib.sh"
	bench_build_head "$root" "$work"
	build=$work/build
	src=$work/src
elif [ -z "$build" ]; then
	build=$root/build
	if [ ! -x "$build/tools/tier-push" ] || [ ! -x "$build/bench/bench-cdcspeed" ]; then
		say "== building libtier (ci/build.sh release)"
		"$root/ci/build.sh" release >&2
	fi
fi
build=$(cd "$build" && pwd)
tools=$build/tools
cdcspeed=$build/bench/bench-cdcspeed
for t in "$tools/tier-init" "$tools/tier-push" "$tools/tier-restore" "$tools/tier-sync" \
	"$tools/tier-status" "$cdcspeed"; do
	[ -x "$t" ] || die "cannot find '$t'"
done
if [ "$head" = 1 ]; then
	version="HEAD $(cut -c1-7 "$src/.commit")"
else
	cs=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2> /dev/null)
	version="$build from ${cs:-?}"
	if [ -n "$cs" ] && git -C "$cs" rev-parse HEAD > /dev/null 2>&1; then
		version="$version at $(git -C "$cs" rev-parse --short HEAD)"
		git -C "$cs" diff --quiet HEAD -- libtier tools 2> /dev/null ||
			version="$version + uncommitted changes"
	elif [ -n "$cs" ] && [ -f "$cs/.commit" ]; then
		version="$version at $(cut -c1-7 "$cs/.commit")"
	fi
fi

apt_install() {
	[ "${TIER_BENCH_NO_APT:-0}" = 1 ] && return 1
	command -v apt-get > /dev/null || return 1
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y --no-install-recommends "$@" >> "$work/apt.log" 2>&1 ||
		{ $sudo apt-get update >> "$work/apt.log" 2>&1 &&
			$sudo apt-get install -y --no-install-recommends "$@" >> "$work/apt.log" 2>&1; }
}

if [ ! -x /usr/bin/time ]; then
	say "== installing GNU time"
	apt_install time || die "GNU time (/usr/bin/time) is needed for peak RSS"
fi

notes=()
missing=()
command -v restic > /dev/null || missing+=(restic)
command -v borg > /dev/null || missing+=(borgbackup)
if [ ${#missing[@]} -gt 0 ]; then
	say "== installing ${missing[*]}"
	# Together first; one by one if one of them is not available.
	apt_install "${missing[@]}" || for m in "${missing[@]}"; do apt_install "$m" || true; done
fi
peers=()
for p in restic borg; do
	if command -v "$p" > /dev/null; then
		peers+=("$p")
	else
		notes+=("$p: not installed and could not be installed, skipped")
	fi
done
for n in "${notes[@]}"; do say "run.sh: $n"; done
all=(libtier "${peers[@]}")
has() { local p; for p in "${peers[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

can_drop=0
[ -w /proc/sys/vm/drop_caches ] && can_drop=1

# --- data --------------------------------------------------------------------

pristine=$work/data
stamp="size=$size seed=$seed"
if [ ! -d "$pristine" ] || [ "$(cat "$work/data.stamp" 2> /dev/null)" != "$stamp" ]; then
	say "== generating $size of data (seed $seed)"
	[ -e "$pristine" ] && mv "$pristine" "$trash/old-data"
	rm -f "$work/data.stamp"
	python3 "$root/bench/gendata.py" "$pristine" --size "$size" --seed "$seed" >&2
	echo "$stamp" > "$work/data.stamp"
fi
sum_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d\n", s}'; }
bytes=$(sum_bytes "$pristine")
nfiles=$(find "$pristine" -type f | wc -l)

# Flush what earlier steps left dirty, then read DIRs into the page cache.
warm() {
	sync
	find "$@" -type f -print0 | xargs -0 cat > /dev/null
}
drop_caches() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

# --- timing ------------------------------------------------------------------

T=$work/t
mkdir -p "$T" "$work/home"

# timed KEY CMD...: wall seconds, peak RSS (KiB) and CPU seconds appended to
# $T/KEY.{s,rss,cpu}, one line per round; output in $T/KEY.out and .err.
timed() {
	local key=$1
	shift
	local tf=$T/$key.time e m u s
	if /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" > "$T/$key.out" 2> "$T/$key.err"; then
		read -r e m u s < <(tail -n 1 "$tf")
		echo "$e" >> "$T/$key.s"
		echo "$m" >> "$T/$key.rss"
		awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f\n", u + s}' >> "$T/$key.cpu"
		say "   $key: $e s, $((m / 1024)) MiB peak"
	else
		say "run.sh: $key failed:"
		tail -n 5 "$T/$key.err" >&2
		echo NA | tee -a "$T/$key.s" "$T/$key.rss" >> "$T/$key.cpu"
	fi
}
# best KEY FIELD: the smallest time (s, cpu) or the largest RSS of the rounds
best() {
	local f=$T/$1.$2
	[ -s "$f" ] || { echo NA; return; }
	if [ "$2" = rss ]; then
		grep -v NA "$f" | sort -g | tail -n 1 | grep . || echo NA
	else
		grep -v NA "$f" | sort -g | head -n 1 | grep . || echo NA
	fi
}
all_of() { [ -s "$T/$1.$2" ] && paste -sd/ "$T/$1.$2" || echo NA; }

export RESTIC_PASSWORD=x RESTIC_CACHE_DIR=$work/home/restic-cache
export BORG_BASE_DIR=$work/home BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

repo_of() { # repo_of TOOL RUNDIR
	case "$1" in
	libtier) echo "$2/vault/a" ;;
	*) echo "$2/$1" ;;
	esac
}

backup() { # backup TOOL KEY RUNDIR ARCHIVE
	local r=$3
	case "$1" in
	libtier) timed "libtier-$2" "$tools/tier-push" -q -s "$r/vault/state" "$r/data" ;;
	restic) timed "restic-$2" restic -q -r "$r/restic" backup "$r/data" ;;
	borg) timed "borg-$2" borg create --compression lz4 "$r/borg::$4" "$r/data" ;;
	esac
}

restore() { # restore TOOL RUNDIR
	local r=$2 d=$2/restore-$1
	mkdir -p "$d"
	case "$1" in
	libtier) timed libtier-restore "$tools/tier-restore" -q -s "$r/vault/state" "$d" ;;
	restic) timed restic-restore restic -q -r "$r/restic" restore latest --target "$d" ;;
	borg) (cd "$d" && timed borg-restore borg extract "$r/borg::s3") ;;
	esac
	# tier-restore and restic write DEST/<absolute path>, borg DEST/<path without />
	if diff -r "$r/data" "$d$r/data" > "$T/$1-diff" 2>&1; then
		echo ok >> "$T/$1.verify"
	else
		echo DIFFERS >> "$T/$1.verify"
		say "run.sh: $1 restore differs from the data (see $T/$1-diff)"
	fi
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
psi() { sed -n 's/^some .*total=//p' /proc/pressure/cpu 2> /dev/null || echo NA; }
psi_start=$(psi)

for i in $(seq 1 "$runs"); do
	r=$work/run$i
	say "== round $i of $runs"
	mkdir -p "$r/vault"
	cp -a "$pristine" "$r/data"
	# the tools take turns going first
	order=()
	n=${#all[@]}
	for k in $(seq 0 $((n - 1))); do order+=("${all[$(((i - 1 + k) % n))]}"); done

	"$tools/tier-init" -q -s "$r/vault/state" -t "a=file://$r/vault/a" > /dev/null
	has restic && restic -q -r "$r/restic" init > /dev/null
	has borg && borg init --encryption=none "$r/borg" > /dev/null

	warm "$r/data"
	"$cdcspeed" "$r/data" > "$T/cdcspeed.$i" 2>&1 || die "bench-cdcspeed failed"
	awk '/^1 thread:/ {print $(NF-1)}' "$T/cdcspeed.$i" >> "$T/cdc1"
	awk '/^2 threads by file:/ {print $(NF-1)}' "$T/cdcspeed.$i" >> "$T/cdc2f"
	awk '/^2 workers by chunk:/ {for (i = 1; i <= NF; i++) if ($i == "MB/s") print $(i-1)}' \
		"$T/cdcspeed.$i" >> "$T/cdc2c"
	say "   cdcspeed: 1 thread $(tail -n 1 "$T/cdc1"), 2 by file $(tail -n 1 "$T/cdc2f"), 2 by chunk $(tail -n 1 "$T/cdc2c") MB/s"

	for t in "${order[@]}"; do warm "$r/data"; backup "$t" first "$r" s1; done
	for t in "${all[@]}"; do du -sb "$(repo_of "$t" "$r")" | cut -f1 >> "$T/$t.size1"; done
	for t in "${order[@]}"; do warm "$r/data"; backup "$t" again "$r" s2; done
	python3 "$root/bench/gendata.py" "$r/data" --mutate 1% --seed "$seed" > "$T/mutate.out"
	for t in "${order[@]}"; do warm "$r/data"; backup "$t" mutated "$r" s3; done
	for t in "${all[@]}"; do du -sb "$(repo_of "$t" "$r")" | cut -f1 >> "$T/$t.size3"; done
	for t in "${order[@]}"; do
		# a restore reads the repository: warm it like the data for pushes
		if [ "$t" = libtier ]; then warm "$r/data" "$r/vault"; else warm "$r/data" "$r/$t"; fi
		restore "$t" "$r"
	done
done
cat "$T/mutate.out" >&2
bytes3=$(sum_bytes "$work/run$runs/data")
last=$work/run$runs

say "== read bound: cold page cache, cat vs push to a tier on the same disk"
s=$work/sync
mkdir -p "$s"
"$tools/tier-init" -q -s "$s/state" -t "a=file://$s/a" -t "b=file://$s/b" > /dev/null
mv "$s/b" "$s/b.away"
if [ "$can_drop" = 1 ]; then
	drop_caches
	timed cat-cold sh -c "find '$last/data' -type f -print0 | xargs -0 cat > /dev/null"
	drop_caches
else
	notes+=("cold page cache: not root, skipped (the push below had a warm cache)")
	warm "$last/data"
fi
timed libtier-cold "$tools/tier-push" -q --retries 1 --retry-delay 1 -s "$s/state" "$last/data"
warm "$last/data"
timed cat-warm sh -c "find '$last/data' -type f -print0 | xargs -0 cat > /dev/null"

say "== tier-sync of a tier that was away vs cp -r"
mv "$s/b.away" "$s/b"
warm "$s/a"
timed sync "$tools/tier-sync" -q -s "$s/state"
sync_ok=ok
"$tools/tier-status" -q -s "$s/state" > /dev/null 2>&1 || sync_ok="tier-status not clean after sync"
diff -r "$s/a/data" "$s/b/data" > /dev/null 2>&1 || sync_ok="$sync_ok; packs differ"
sync_bytes=$(du -sb "$s/b/data" | cut -f1)
warm "$s/a"
timed cp-tier cp -r "$s/a" "$s/copy1"
warm "$s/a"
# cp -r and then fsync every file: the durability tier-sync gives
timed cp-tier-fsync sh -c "cp -r '$s/a' '$s/copy2' && find '$s/copy2' -type f -exec sync {} +"
warm "$last/data"
timed cp-data cp -r "$last/data" "$s/copy3"

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - t_start))
pressure=$(awk -v a="$psi_start" -v b="$(psi)" -v t="$elapsed" \
	'BEGIN { if (a == "NA" || b == "NA" || t <= 0) print "NA"; else printf "%.0f%%", (b - a) / t / 1e4 }')

# --- report ------------------------------------------------------------------

mb() { awk -v b="$1" -v s="$2" 'BEGIN { if (s == "NA" || s <= 0) print "NA"; else printf "%.0f", b / s / 1e6 }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "NA" || k == "") print "NA"; else printf "%.0f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.2f", a / b }'; }
verdict() { # verdict VALUE OP LIMIT
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "NA") { print "n/a"; exit }
		ok = (op == ">=") ? (v >= l) : (v <= l)
		print ok ? "PASS" : "MISS" }'
}
maxof() { sort -g "$1" | tail -n 1; }
size_mib() { awk -v b="$(tail -n 1 "$T/$1.$2")" 'BEGIN {printf "%.1f", b / 1048576}'; }
ceiling=$(cat "$T/cdc2f" "$T/cdc2c" | sort -g | tail -n 1)

{
	echo "libtier bench, $(date -u '+%Y-%m-%d %H:%M UTC'): $version"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(df -T "$work" | awk 'NR == 2 {print $2 " on " $1}') under $work; load average $load_start at start, $load_end at end; CPU pressure $pressure over the $elapsed s of the run"
	echo "data: $nfiles files, $bytes bytes ($size, seed $seed), $bytes3 after the 1% mutation; $runs rounds, best time of the rounds"
	echo "peers: $(has restic && restic version | cut -d' ' -f1-2)$(has restic && has borg && echo ', ')$(has borg && borg --version)"
	for n in "${notes[@]}"; do echo "note: $n"; done
	echo
	printf '%-8s %8s %8s %10s %10s %10s %8s %9s %9s\n' tool "first s" "MB/s" "unchanged" "mutated s" "restore s" "MB/s" "repo MiB" "peak MiB"
	for t in "${all[@]}"; do
		pk=$(for k in first again mutated; do best "$t-$k" rss; done | grep -v NA | sort -g | tail -n 1)
		printf '%-8s %8s %8s %10s %10s %10s %8s %9s %9s\n' "$t" \
			"$(best "$t-first" s)" "$(mb "$bytes" "$(best "$t-first" s)")" \
			"$(best "$t-again" s)" "$(best "$t-mutated" s)" \
			"$(best "$t-restore" s)" "$(mb "$bytes3" "$(best "$t-restore" s)")" \
			"$(size_mib "$t" size1)" "$(mib "${pk:-NA}")"
	done
	echo
	echo "every round (seconds, in round order):"
	for t in "${all[@]}"; do
		echo "  $t: first $(all_of "$t-first" s), unchanged $(all_of "$t-again" s), mutated $(all_of "$t-mutated" s), restore $(all_of "$t-restore" s); CPU s (user+sys) first $(all_of "$t-first" cpu), restore $(all_of "$t-restore" cpu)"
		echo "  $t: repository $(tail -n 1 "$T/$t.size1") bytes after the first push, $(tail -n 1 "$T/$t.size3") after three; peak RSS MiB first/unchanged/mutated/restore $(mib "$(best "$t-first" rss)")/$(mib "$(best "$t-again" rss)")/$(mib "$(best "$t-mutated" rss)")/$(mib "$(best "$t-restore" rss)"); restores equal to the data: $(paste -sd/ "$T/$t.verify")"
	done
	echo "cdcspeed MB/s: 1 thread $(paste -sd/ "$T/cdc1"), 2 threads by file $(paste -sd/ "$T/cdc2f"), 2 workers by chunk $(paste -sd/ "$T/cdc2c"); ceiling (best two-thread figure) $ceiling MB/s"
	if [ "$can_drop" = 1 ]; then
		echo "read bound: cat of the data $(best cat-cold s) s with a cold cache ($(mb "$bytes3" "$(best cat-cold s)") MB/s), $(best cat-warm s) s warm ($(mb "$bytes3" "$(best cat-warm s)") MB/s); first push with a cold cache $(best libtier-cold s) s ($(mb "$bytes3" "$(best libtier-cold s)") MB/s, CPU $(best libtier-cold cpu) s)"
	else
		echo "read bound: cat of the data $(best cat-warm s) s warm ($(mb "$bytes3" "$(best cat-warm s)") MB/s); first push $(best libtier-cold s) s"
	fi
	echo "sync: tier-sync of $sync_bytes bytes of packs $(best sync s) s ($(mb "$sync_bytes" "$(best sync s)") MB/s, $sync_ok, peak $(mib "$(best sync rss)") MiB); cp -r of the tier $(best cp-tier s) s, with an fsync of every file $(best cp-tier-fsync s) s; cp -r of the data $(best cp-data s) s"
	echo
	echo "targets (best of $runs rounds):"
	if has restic; then
		r=$(ratio "$(best restic-first s)" "$(best libtier-first s)")
		printf '  %-46s %7s  (>= 1.5)   %s\n' "first push throughput / restic's" "$r" "$(verdict "$r" '>=' 1.5)"
	fi
	r=$(ratio "$(mb "$bytes" "$(best libtier-first s)")" "$ceiling")
	printf '  %-46s %7s  (>= 0.60)  %s\n' "first push / chunk+sha256+lz4 on 2 cores" "$r" "$(verdict "$r" '>=' 0.6)"
	if has restic; then
		r=$(ratio "$(best restic-again s)" "$(best libtier-again s)")
		printf '  %-46s %7s  (>= 3)     %s\n' "unchanged re-push speed / restic's" "$r" "$(verdict "$r" '>=' 3)"
		r=$(ratio "$(best restic-restore s)" "$(best libtier-restore s)")
		printf '  %-46s %7s  (>= 1.5)   %s\n' "restore speed / restic's" "$r" "$(verdict "$r" '>=' 1.5)"
	fi
	if has borg; then
		r=$(ratio "$(tail -n 1 "$T/libtier.size1")" "$(tail -n 1 "$T/borg.size1")")
		printf '  %-46s %7s  (<= 1.05)  %s\n' "stored size / borg lz4's, first push" "$r" "$(verdict "$r" '<=' 1.05)"
		r=$(ratio "$(tail -n 1 "$T/libtier.size3")" "$(tail -n 1 "$T/borg.size3")")
		printf '  %-46s %7s  (<= 1.05)  %s\n' "stored size / borg lz4's, after three pushes" "$r" "$(verdict "$r" '<=' 1.05)"
	fi
	pk=$(mib "$(maxof "$T/libtier-first.rss")")
	printf '  %-46s %7s  (< 100)   %s\n' "push peak RSS, MiB (tens of MiB)" "$pk" "$(verdict "$pk" '<=' 99)"
	r=$(ratio "$(best cp-tier-fsync s)" "$(best sync s)")
	printf '  %-46s %7s  (no target; 1 = as fast)\n' "tier-sync speed / cp -r + fsync's" "$r"
	r=$(ratio "$(best cp-tier s)" "$(best sync s)")
	printf '  %-46s %7s  (no target; 1 = as fast)\n' "tier-sync speed / plain cp -r's" "$r"
	if [ "$can_drop" = 1 ]; then
		r=$(ratio "$(best cat-cold s)" "$(best libtier-cold s)")
		printf '  %-46s %7s  (1 = push is read-bound)\n' "cold-cache push speed / cold cat's" "$r"
	fi
} > "$work/results.txt"
cat "$work/results.txt"
if [ "$keep" = 1 ]; then say "work dir kept: $work (results in $work/results.txt)"; fi
exit 0
