#!/bin/sh
# docs/man/md2man.sh GO-MD2MAN IN.md OUT.1 VERSION: one man page from its
# Markdown source, for CMake (the `man` target).  The pages are written to
# read well on GitHub: "# tier-x(1) -- summary" on top and "##" sections.
# go-md2man wants a title block and "#" sections, so this rewrites those
# (outside fenced code, where "# " starts a shell comment) and adds NAME.
set -eu
md2man=$1 in=$2 out=$3 version=$4
awk -v version="$version" '
NR == 1 {
	if (match($0, /^# [a-z0-9-]+\([0-9]\) -- /) == 0) {
		print FILENAME ": line 1 is not \"# name(N) -- summary\"" > "/dev/stderr"
		exit 2
	}
	name = $2; sub(/\(.*/, "", name)
	sect = $2; sub(/.*\(/, "", sect); sub(/\).*/, "", sect)
	summary = substr($0, index($0, ") -- ") + 5)
	printf "%% %s %s \"\" \"libtier %s\" \"libtier manual\"\n\n", toupper(name), sect, version
	printf "# NAME\n\n%s - %s\n", name, summary
	next
}
/^```/ { fence = !fence }
!fence && /^##+ / { sub(/^#/, "") }
# A table becomes a list, one entry per row: the first cells are the term,
# the last one the text, which then wraps like any paragraph (a tbl table
# from go-md2man is as wide as its longest cell).
!fence && /^\|/ {
	row = $0; gsub(/\\\|/, "\001", row)
	sub(/^\| */, "", row); sub(/ *\| *$/, "", row)
	n = split(row, c, / *\| */)
	for (i = 1; i <= n; i++) gsub(/\001/, "|", c[i])
	if (!intable) { intable = 1; next }          # the header row
	if (c[1] ~ /^:?-+:?$/) next                  # |---|---|
	term = c[1]
	for (i = 2; i < n; i++) term = term (i == 2 ? " (" : ", ") c[i]
	if (n > 2) term = term ")"
	printf "%s\n:   %s\n\n", term, c[n]
	next
}
{ intable = 0; print }
' "$in" >"$out.md"
"$md2man" -in "$out.md" -out "$out.roff"
rm -f "$out.md"
# go-md2man 2.0 passes on a text line starting with "'" or with "." and
# a non-letter ("'slow' stopped ...", "..."): troff would take it for a
# request.
awk '
/^'"'"'/ || /^\.[^A-Za-z]/ { print "\\&" $0; next }
{ print }
' "$out.roff" >"$out"
rm -f "$out.roff"
