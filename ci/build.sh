#!/usr/bin/env bash
# Configure and build one variant (incremental when the directory exists):
#   ci/build.sh [release]   -> build/       optimised, with debug info
#   ci/build.sh asan        -> build-asan/  AddressSanitizer + UBSan, -O0
# Warnings are errors in both.
set -euo pipefail
cd "$(dirname "$0")/.."

variant=${1:-release}
case "$variant" in
release)
	dir=build
	flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	;;
asan)
	dir=build-asan
	flags=(-DCMAKE_BUILD_TYPE=Debug -DTIER_SANITIZE=ON)
	;;
*)
	echo "usage: ci/build.sh [release|asan]" >&2
	exit 2
	;;
esac

cmake -S . -B "$dir" -DTIER_WERROR=ON "${flags[@]}"
cmake --build "$dir" -j2
