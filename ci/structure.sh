#!/bin/sh
# The house rules of docs/design.md, measured: no source file in libtier/src
# over 800 lines, no function in libtier/src or tools/ over 80 lines.
# usage: ci/structure.sh [FILE...]   (default: the whole tree; needs
# universal-ctags for function lengths).  Exit 1 when something is over.
set -eu
cd "$(dirname "$0")/.."
max_file=800
max_func=80
if [ $# -eq 0 ]; then
	set -- $(find libtier/src tools -name '*.[ch]' | sort)
fi
over=0
for f in "$@"; do
	case $f in libtier/src/*)
		n=$(wc -l <"$f")
		if [ "$n" -gt $max_file ]; then
			echo "file over $max_file lines: $f ($n)"
			over=1
		fi
	esac
done
if command -v ctags >/dev/null 2>&1; then
	long=$(ctags --fields=+ne --c-kinds=f -o - "$@" |
		awk -F'\t' -v max=$max_func '{
			l = ""; e = ""
			for (i = 4; i <= NF; i++) {
				if ($i ~ /^line:/) l = substr($i, 6)
				if ($i ~ /^end:/) e = substr($i, 5)
			}
			if (e != "" && e - l + 1 > max)
				printf "function over %d lines: %s:%s (%d)\n", max, $2, $1, e - l + 1
		}')
	if [ -n "$long" ]; then
		echo "$long"
		over=1
	fi
else
	echo "structure: ctags not installed, function lengths not checked" >&2
fi
exit $over
