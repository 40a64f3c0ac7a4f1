#!/usr/bin/env bash
# Push speed to an FTP tier against the wire: tier-push of a tree vs
# `curl -T` uploading the same bytes as one file, to the vsftpd of
# ci/servers.sh on loopback; and how many uploads (STOR) the push made for
# how many files.
#
#   bench/ftp-speed.sh [--size 1G] [--seed 2] [--runs 3] [--threads N]
#                      [--build DIR] [--workdir DIR] [--keep]
#
# Needs the test servers: ci/servers.sh start; eval "$(ci/servers.sh env)"
# (TIER_TEST_FTP_URL, TIER_TEST_FTP_DIR, TIER_SERVERS_DIR).  Generates the
# tree once (bench/gendata.py) and a tar of it (the same bytes as one file).
# Each round, the two take turns going first, each into a fresh directory
# on the server (removed after the round); the best round of each is
# compared.  All read from a warm page cache.  The same push to a file://
# tier is timed too: the push's own cost, without the network.
#
# MB/s is 10^6 bytes per second of *source* bytes (what the user backs up):
# tier-push sends fewer bytes than it reads (lz4, deduplication), so the
# wire rate of its packs is printed as well.  The upload count comes from
# vsftpd's protocol log (log_ftp_protocol=YES): the lines the push added.
# The exclusive lock on $TIER_SERVERS_DIR/tests.lock keeps tests that share
# the server out of the measurement.
#
#   --build DIR  tools from DIR/tools (default: build/, ci/build.sh release)
set -euo pipefail
# vaults are encrypted by default (SPEC 8): the password for every tool
export TIER_PASSWORD=${TIER_PASSWORD:-bench-password}

root=$(cd "$(dirname "$0")/.." && pwd)
size=1G
seed=2
runs=3
threads=
work=/tmp/tier-ftp-bench
build=$root/build
keep=0

while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--threads) threads=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	--workdir) work=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	*)
		sed -n '7,8p' "$0" | sed 's/^# *//' >&2
		exit 2
		;;
	esac
done

die() {
	echo "ftp-speed: $*" >&2
	exit 1
}

# shellcheck disable=SC2016 # the command to type, not to expand
[ -n "${TIER_TEST_FTP_URL:-}" ] || die 'no TIER_TEST_FTP_URL: ci/servers.sh start; eval "$(ci/servers.sh env)"'
[ -n "${TIER_SERVERS_DIR:-}" ] || die "no TIER_SERVERS_DIR (ci/servers.sh env sets it)"
ftplog=$TIER_SERVERS_DIR/ftp/vsftpd.log
[ -f "$ftplog" ] || die "no vsftpd log $ftplog"
tools=$build/tools
[ -x "$tools/tier-push" ] || die "no tools in $tools (ci/build.sh release)"
url=${TIER_TEST_FTP_URL%/}
srvdir=${TIER_TEST_FTP_DIR:-}

# shellcheck source=bench/wire-lib.sh
. "$root/bench/wire-lib.sh"
wire_data

exec 9>>"$TIER_SERVERS_DIR/tests.lock"
flock -x -w 1200 9 || die "cannot lock $TIER_SERVERS_DIR/tests.lock"

# lines vsftpd logged since line $1
log_since() { tail -n "+$(($1 + 1))" "$ftplog"; }

stamp=$(date +%s)-$$
run_curl() {
	local sub=bench-curl-$stamp-$1
	timed curl -sS --ftp-create-dirs -T "$tarball" "$url/$sub/data.tar"
	[ -n "$srvdir" ] && rm -rf "${srvdir:?}/$sub"
	return 0
}

push_stats=$work/push-stats
run_push() {
	local sub=bench-push-$stamp-$1 ms l0 state=$work/state-$1
	rm -rf "$state"
	curl -sS --ftp-create-dirs -o /dev/null "$url/$sub/"
	"$tools/tier-init" -q -s "$state" -t "server=$url/$sub" >/dev/null
	l0=$(wc -l <"$ftplog")
	ms=$(timed "$tools/tier-push" -q --json -s "$state" ${threads:+--threads "$threads"} "$data")
	# uploads, logins and the bytes the packs took on the server
	{
		echo "stor=$(log_since "$l0" | grep -c '"STOR ' || true)"
		echo "login=$(log_since "$l0" | grep -c 'OK LOGIN' || true)"
		echo "stored=$(jq -r .stats.stored_bytes "$work/last.out")"
		echo "packs=$(jq -r .stats.packs "$work/last.out")"
		if [ -n "$srvdir" ]; then
			echo "server_bytes=$(du -sb --apparent-size "$srvdir/$sub" | cut -f1)"
			echo "server_files=$(find "$srvdir/$sub" -type f | wc -l)"
		fi
	} >"$push_stats"
	[ -n "$srvdir" ] && rm -rf "${srvdir:?}/$sub"
	rm -rf "$state"
	echo "$ms"
}

# The same push to a file:// tier on the local disk: what the push costs
# without the network, to tell the FTP path from the rest.
run_file() {
	local state=$work/state-f$1 tier=$work/tier-f$1 ms
	rm -rf "$state" "$tier"
	mkdir -p "$tier"
	"$tools/tier-init" -q -s "$state" -t "local=file://$tier" >/dev/null
	ms=$(timed "$tools/tier-push" -q -s "$state" ${threads:+--threads "$threads"} "$data")
	rm -rf "$state" "$tier"
	echo "$ms"
}

# tier-sync onto the FTP tier of what a push put on a file:// tier: the
# packs' transfer alone (read from the local tier, sent over FTP).
run_sync() {
	local state=$work/state-s$1 tier=$work/tier-s$1 sub=bench-sync-$stamp-$1 ms
	rm -rf "$state" "$tier"
	mkdir -p "$tier"
	curl -sS --ftp-create-dirs -o /dev/null "$url/$sub/"
	"$tools/tier-init" -q -s "$state" -t "local=file://$tier" -t "server=$url/$sub" >/dev/null
	"$tools/tier-push" -q -s "$state" -t "local=file://$tier" ${threads:+--threads "$threads"} "$data" >/dev/null
	ms=$(timed "$tools/tier-sync" -q --json -s "$state")
	sync_bytes=$(jq -r .stats.bytes "$work/last.out")
	echo "$sync_bytes" >"$work/sync-bytes"
	[ -n "$srvdir" ] && rm -rf "${srvdir:?}/$sub"
	rm -rf "$state" "$tier"
	echo "$ms"
}

# CPU pressure (share of the time some task waited for a CPU), microseconds
psi() { awk '/^some/ { sub("total=", "", $5); print $5 }' /proc/pressure/cpu 2>/dev/null || echo 0; }

best_curl=
best_push=
best_file=
best_sync=
psi0=$(psi)
t_start=$(date +%s%N)
for ((r = 1; r <= runs; r++)); do
	if ((r % 2)); then
		c=$(run_curl "$r")
		p=$(run_push "$r")
		f=$(run_file "$r")
		y=$(run_sync "$r")
	else
		y=$(run_sync "$r")
		f=$(run_file "$r")
		p=$(run_push "$r")
		c=$(run_curl "$r")
	fi
	echo "round $r: curl -T $c ms ($(mbps "$tar_bytes" "$c") MB/s), tier-push to ftp $p ms ($(mbps "$src_bytes" "$p") MB/s), to file:// $f ms ($(mbps "$src_bytes" "$f") MB/s), sync $y ms"
	if [ -z "$best_curl" ] || [ "$c" -lt "$best_curl" ]; then best_curl=$c; fi
	if [ -z "$best_push" ] || [ "$p" -lt "$best_push" ]; then best_push=$p; fi
	if [ -z "$best_file" ] || [ "$f" -lt "$best_file" ]; then best_file=$f; fi
	if [ -z "$best_sync" ] || [ "$y" -lt "$best_sync" ]; then best_sync=$y; fi
done
pressure=$(awk -v a="$psi0" -v b="$(psi)" -v t0="$t_start" -v t1="$(date +%s%N)" \
	'BEGIN { printf "%.0f", 100 * (b - a) / ((t1 - t0) / 1000) }')
stor='' login='' stored='' packs='' server_files=''
# shellcheck disable=SC1090
. "$push_stats"

curl_rate=$(mbps "$tar_bytes" "$best_curl")
push_rate=$(mbps "$src_bytes" "$best_push")
ratio=$(awk -v a="$push_rate" -v b="$curl_rate" 'BEGIN { printf "%.0f", 100 * a / b }')
echo
echo "data: $nfiles files, $src_bytes bytes ($size, seed $seed); tar $tar_bytes bytes"
echo "curl -T one file:      best of $runs ${best_curl} ms  $curl_rate MB/s"
echo "tier-push to FTP tier: best of $runs ${best_push} ms  $push_rate MB/s of source" \
	"($(mbps "$stored" "$best_push") MB/s of packs on the wire, $stored bytes stored)"
echo "tier-push to file://:  best of $runs ${best_file} ms  $(mbps "$src_bytes" "$best_file") MB/s of source (no network)"
sync_bytes=$(cat "$work/sync-bytes")
echo "tier-sync onto ftp:    best of $runs ${best_sync} ms  $(mbps "$sync_bytes" "$best_sync") MB/s of packs ($sync_bytes bytes: the transfer alone)"
echo "push / curl: $ratio% (target >= 80%): $([ "$ratio" -ge 80 ] && echo PASS || echo MISS)"
echo "uploads: $stor STOR for $nfiles files ($packs data packs; ${server_files:-?} files on the server), $login login(s)"
echo "cpu pressure over the run: $pressure% (other work on the machine slows the rounds)"
[ "$keep" = 1 ] || rm -rf "$work"
