#!/bin/sh
# The shared library exports exactly the functions declared TIER_EXTERN in
# the public headers: nothing internal (tier_write_*, tier_log_*) leaks into
# the ABI, and nothing public is missing.
# usage: ci/check-exports.sh path/to/libtier.so libtier/include
set -eu
so=$1
inc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' |
	grep -v '^_' | sort -u >"$tmp/exported"
find "$inc" -name '*.h' -exec cat {} + | tr '\n' ' ' |
	grep -o 'TIER_EXTERN [a-z_0-9 *]*tier_[a-z_0-9]*(' |
	grep -o 'tier_[a-z_0-9]*($' | tr -d '(' | sort -u >"$tmp/declared"
if ! cmp -s "$tmp/exported" "$tmp/declared"; then
	echo "check-exports: libtier.so and include/tier/ disagree:" >&2
	diff "$tmp/declared" "$tmp/exported" | sed -n 's/^< /  declared, not exported: /p; s/^> /  exported, not declared: /p' >&2
	exit 1
fi
echo "check-exports: $(wc -l <"$tmp/exported") symbols, all public"
