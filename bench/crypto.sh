#!/usr/bin/env bash
# Encrypted against plaintext vaults (SPEC 8: encrypted push and restore at
# 90% or more of the plaintext speed): the same generated tree pushed to a
# new file:// vault and restored from it, best of N runs each, page cache
# dropped before each restore when we may.  Prints seconds and ratios.
#   bash bench/crypto.sh [--size 512M] [--runs 3] [--kdf-memory 64M]
# Each encrypted run also pays the password's scrypt once (about 0.15 s at
# the default 64M): --kdf-memory 1M shows the sealing alone.
set -euo pipefail
cd "$(dirname "$0")/.."
size=512M runs=3 kdf=64M
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--kdf-memory) kdf=$2; shift 2 ;;
	*) echo "usage: bench/crypto.sh [--size 512M] [--runs N] [--kdf-memory 64M]" >&2; exit 2 ;;
	esac
done
T=$PWD/build/tools
[ -x "$T/tier-push" ] || ci/build.sh release >/dev/null
work=$(mktemp -d /tmp/tier-bench-crypto.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TIER_PASSWORD=bench-password
bytes=$(numfmt --from=iec "$size")
# half random (incompressible), half text (compressible), in 200 files
mkdir -p "$work/src"
n=200 each=$((bytes / 200))
for i in $(seq 1 $n); do
	if [ $((i % 2)) = 0 ]; then head -c "$each" /dev/urandom
	else yes "line $i of a compressible file, with some words in it" | head -c "$each" || true; fi >"$work/src/f$i"
done
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
best() { sort -n | head -1; }
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
declare -A push restore
for mode in none aes-256-gcm; do
	pushes=() restores=()
	for r in $(seq 1 "$runs"); do
		rm -rf "$work/v" "$work/out"
		"$T/tier-init" -q -s "$work/v/state" -t "a=file://$work/v/a" --encryption "$mode" \
			$([ "$mode" = none ] || echo --kdf-memory "$kdf") >/dev/null
		# the source in the page cache for every push alike (the drop
		# before each restore would leave it cold for all but the first)
		cat "$work"/src/* >/dev/null
		pushes+=("$(secs "$T/tier-push" -q -s "$work/v/state" "$work/src")")
		drop
		restores+=("$(secs "$T/tier-restore" -q -s "$work/v/state" "$work/out")")
	done
	push[$mode]=$(printf '%s\n' "${pushes[@]}" | best)
	restore[$mode]=$(printf '%s\n' "${restores[@]}" | best)
done
printf 'data: %s in %d files (half random, half text), best of %d, kdf %s\n' "$size" "$n" "$runs" "$kdf"
for op in push restore; do
	declare -n t=$op
	printf '%-8s plaintext %6.2f s  encrypted %6.2f s  speed ratio %.2f (target >= 0.90)\n' \
		"$op" "${t[none]}" "${t[aes-256-gcm]}" "$(echo "${t[none]} / ${t[aes-256-gcm]}" | bc -l)"
done
