#!/usr/bin/env bash
# Build the libFuzzer targets with clang (-> build-fuzz/) and run each for
# SECONDS (default 20) from its seed corpus in fixtures/fuzz/<name>/:
#
#   ci/fuzz.sh [SECONDS] [TARGET...]      targets: node snapname tree pack
#                                         url listing s3xml (default: all)
#
# Environment: FUZZ_JOBS (targets run at once, default 2), FUZZ_KEEP=1 keeps
# the grown corpora in build-fuzz/corpus/<name>/ (else they start afresh
# from the seeds each run).  A finding (crash, sanitizer report, leak,
# timeout, broken harness check) fails the run; its input is left in
# build-fuzz/artifacts/<name>/: add it to fixtures/fuzz/<name>/ with the fix
# (docs/testing.md, "Fuzzing").  Touches no network and nothing outside
# build-fuzz/ (the pack harness reads its input from a memfd).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
[ $# -gt 0 ] && shift
all=(node snapname tree pack url listing s3xml)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
jobs=${FUZZ_JOBS:-2}
dir=build-fuzz

case $secs in '' | *[!0-9]*) echo "usage: ci/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
for t in "${targets[@]}"; do
	[ -d "fixtures/fuzz/$t" ] || { echo "fuzz: no target '$t' (${all[*]})" >&2; exit 2; }
done
command -v clang >/dev/null || { echo "fuzz: needs clang (ci/install-deps.sh)" >&2; exit 2; }

mkdir -p "$dir"
# Warnings are not errors here: clang warns about things gcc does not, and
# the release and asan builds already hold the code to -Werror.
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS=-Wno-unknown-warning-option -DTIER_FUZZ=ON -DTIER_TESTS=OFF >"$dir/cmake.log" 2>&1 ||
	{ cat "$dir/cmake.log" >&2; exit 1; }
cmake --build "$dir" -j2 --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() { # target
	local t=$1 corpus=$dir/corpus/$1 art=$dir/artifacts/$1 log=$dir/fuzz-$1.log rc=0
	[ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$corpus"
	mkdir -p "$corpus" "$art"
	# new inputs go to the first directory; the seeds stay untouched
	"$dir/libtier/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
		"$corpus" "fixtures/fuzz/$t" >"$log" 2>&1 || rc=$?
	local execs
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		printf 'fuzz: %-9s ok       %10s executions in %ss, corpus %s files\n' \
			"$t" "${execs:-?}" "$secs" "$(find "$corpus" -type f | wc -l)"
	else
		printf 'fuzz: %-9s FINDING  (exit %s) after %s executions; input: %s\n' \
			"$t" "$rc" "${execs:-?}" "$(ls -t "$art" | head -n 1)"
		# the report's first lines and the frames in our code
		grep -m 3 -E 'ERROR: |SUMMARY|check failed|runtime error' "$log" | sed 's/^/    /'
		grep -E '#[0-9]+ 0x.* in [^ ]+ /[^ ]+\.c:[0-9]+' "$log" | head -n 4 | sed 's/^/    /'
	fi
	return "$rc"
}

failed=0
pids=()
names=()
for t in "${targets[@]}"; do
	run_one "$t" &
	pids+=($!)
	names+=("$t")
	if [ ${#pids[@]} -ge "$jobs" ]; then
		wait "${pids[0]}" || failed=$((failed + 1))
		pids=("${pids[@]:1}")
		names=("${names[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || failed=$((failed + 1))
done
if [ "$failed" -gt 0 ]; then
	echo "fuzz: $failed of ${#targets[@]} targets found something (logs: $dir/fuzz-<target>.log)" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no finding"
