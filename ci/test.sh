#!/usr/bin/env bash
# THE test command (README.md names it; .ci/run calls it):
#   ci/test.sh [release]   build if needed, run every test (unit + cli) in build/
#   ci/test.sh asan        build if needed, run the unit tests and the
#                          terminal scenarios (label tty) in build-asan/
# Any further arguments go to ctest (e.g. ci/test.sh release -R unit.test_log).
set -euo pipefail
cd "$(dirname "$0")/.."

variant=${1:-release}
[ $# -gt 0 ] && shift

# Sanitizer findings are failures, with a stack trace to act on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "$variant" in
release)
	ci/build.sh release
	ctest --test-dir build --output-on-failure -j2 "$@"
	;;
asan)
	ci/build.sh asan
	ctest --test-dir build-asan -L 'unit|tty' --output-on-failure -j2 "$@"
	;;
*)
	echo "usage: ci/test.sh [release|asan] [ctest arguments...]" >&2
	exit 2
	;;
esac
