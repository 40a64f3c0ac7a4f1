#!/usr/bin/env bash
# Push speed to an S3 tier against the wire: tier-push of a tree vs `curl
# --aws-sigv4 -T` uploading the same bytes as one object, to the radosgw of
# ci/ceph.sh on loopback.  Issue 8's target: the push at 80% or more of
# curl's rate.
#
#   bench/s3-speed.sh [--size 1G] [--seed 2] [--runs 3] [--build DIR]
#                     [--workdir DIR]
#
# Needs radosgw: ci/ceph.sh start (this script reads ci/ceph.sh env).  Its
# memstore OSD holds everything in RAM and blocks writes when full: each
# round stores ~1.8 GB of a 1 GiB tree, so start it with room, e.g.
# TIER_CEPH_MEM_BYTES=$((12 << 30)) ci/ceph.sh start for three rounds.
# Generates the tree once (bench/gendata.py) and a tar of it.  The two take
# turns going first; every round writes under a fresh prefix of the test
# bucket.  MB/s is 10^6 bytes per second of *source* bytes: tier-push
# sends fewer bytes than it reads (lz4, deduplication).
set -euo pipefail
# vaults are encrypted by default (SPEC 8): the password for every tool
export TIER_PASSWORD=${TIER_PASSWORD:-bench-password}

root=$(cd "$(dirname "$0")/.." && pwd)
size=1G
seed=2
runs=3
work=/tmp/tier-s3-bench
build=$root/build

while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--build) build=${2:?}; shift 2 ;;
	--workdir) work=${2:?}; shift 2 ;;
	*)
		sed -n '7,8p' "$0" | sed 's/^# *//' >&2
		exit 2
		;;
	esac
done

die() {
	echo "s3-speed: $*" >&2
	exit 1
}

eval "$("$root/ci/ceph.sh" env)"
[ -n "${TIER_TEST_S3_ENDPOINT:-}" ] || die "no radosgw: ci/ceph.sh start"
curl -s -o /dev/null "$TIER_TEST_S3_ENDPOINT" || die "radosgw does not answer at $TIER_TEST_S3_ENDPOINT"
tools=$build/tools
[ -x "$tools/tier-push" ] || die "no tools in $tools (ci/build.sh release)"
endpoint=$TIER_TEST_S3_ENDPOINT
bucket=${TIER_TEST_S3_BUCKET:-tierbucket}

# shellcheck source=bench/wire-lib.sh
. "$root/bench/wire-lib.sh"
wire_data

stamp=$(date +%s)-$$
run_curl() {
	timed curl -sS -f --aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		-T "$tarball" "$endpoint/$bucket/bench-curl-$stamp-$1/data.tar"
}

run_push() {
	local state=$work/state-$1 ms
	rm -rf "$state"
	"$tools/tier-init" -q -s "$state" \
		-t "s3=s3://$bucket/bench-push-$stamp-$1?endpoint=$endpoint&region=us-east-1&style=path" >/dev/null
	ms=$(timed "$tools/tier-push" -q -s "$state" "$data")
	rm -rf "$state"
	echo "$ms"
}

best_curl=
best_push=
for ((r = 1; r <= runs; r++)); do
	if ((r % 2)); then
		c=$(run_curl "$r")
		p=$(run_push "$r")
	else
		p=$(run_push "$r")
		c=$(run_curl "$r")
	fi
	echo "round $r: curl PUT $c ms ($(mbps "$tar_bytes" "$c") MB/s), tier-push to s3 $p ms ($(mbps "$src_bytes" "$p") MB/s)"
	if [ -z "$best_curl" ] || [ "$c" -lt "$best_curl" ]; then best_curl=$c; fi
	if [ -z "$best_push" ] || [ "$p" -lt "$best_push" ]; then best_push=$p; fi
done
curl_rate=$(mbps "$tar_bytes" "$best_curl")
push_rate=$(mbps "$src_bytes" "$best_push")
ratio=$(awk -v a="$push_rate" -v b="$curl_rate" 'BEGIN { printf "%.0f", 100 * a / b }')
echo
echo "data: $nfiles files, $src_bytes bytes ($size, seed $seed); tar $tar_bytes bytes"
echo "curl PUT one object:  best of $runs $best_curl ms  $curl_rate MB/s"
echo "tier-push to s3 tier: best of $runs $best_push ms  $push_rate MB/s of source"
verdict=MISS
[ "$ratio" -ge 80 ] && verdict=PASS
echo "push / curl: $ratio% (target >= 80%): $verdict"
echo "(objects written under s3://$bucket/bench-*-$stamp-*; the radosgw of ci/ceph.sh keeps them in memory until it stops)"
