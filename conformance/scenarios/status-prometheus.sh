#!/usr/bin/env bash
# tier-status --prometheus (issue 18): node_exporter's textfile format, on
# stdout or in FILE replaced atomically (a new inode each time, mode 0644,
# no temporary file left beside it); every tier online or not, its revision,
# lag, newest push (the log's time) and bytes stored (the files under its
# data/); a tier whose directory vanished still has its rows, online 0, and
# tier-status exits 7 as without --prometheus.  The format is checked by
# promtool when it is installed, and always by a strict reading of the
# exposition format (below).
. "$(dirname "$0")/../lib.sh"

# prom_check FILE: every line a HELP, a TYPE or a sample of the exposition
# format; HELP and TYPE once per family, before its samples; a family's
# samples together; no series twice; the text ends with a newline.
name='[a-zA-Z_:][a-zA-Z0-9_:]*'
lval='"([^"\\]|\\[\\"n])*"'
label="[a-zA-Z_][a-zA-Z0-9_]*=$lval"
value='(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[+-]Inf)'
sample_re="^$name(\\{$label(,$label)*\\})? $value( -?[0-9]+)?\$"
help_re="^# HELP $name ([^\\]|\\[\\n])*\$"
type_re="^# TYPE $name (counter|gauge|histogram|summary|untyped)\$"
prom_check() {
	local f=$1 bad
	if [ ! -s "$f" ] || [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" != '\n' ]; then
		fail "$f: empty, or no newline at its end"
		return 0
	fi
	bad=$(grep -Ev -e "$sample_re" -e "$help_re" -e "$type_re" "$f" | head -3)
	if [ -n "$bad" ]; then
		fail "$f: not the exposition format: $bad"
		return 0
	fi
	# structure: awk over the lines the regexes accepted
	if bad=$(awk '
		/^# HELP / { if (help[$3]++) { print "HELP twice: " $3; exit 1 }
			if (seen[$3]) { print "HELP after samples: " $3; exit 1 }; next }
		/^# TYPE / { if (type[$3]++) { print "TYPE twice: " $3; exit 1 }
			if (seen[$3]) { print "TYPE after samples: " $3; exit 1 }; next }
		{ n = $1; sub(/\{.*/, "", n)
		  if (!type[n]) { print "sample without TYPE: " n; exit 1 }
		  if (n != last && seen[n]) { print "family split: " n; exit 1 }
		  if (series[$1]++) { print "series twice: " $1; exit 1 }
		  seen[n] = 1; last = n }' "$f"); then
		pass "$f: exposition format (lines, families, series)"
	else
		fail "$f: $bad"
	fi
	if command -v promtool >/dev/null; then
		if promtool check metrics <"$f" >promtool.out 2>&1; then
			pass "promtool check metrics accepts $f"
		else
			fail "promtool: $(head -3 promtool.out)"
		fi
	fi
}

# metric FILE NAME TIER: the value of NAME{...,tier="TIER"} (TIER "": the
# sample without a tier label); empty when absent
metric() {
	local sel
	if [ -n "$3" ]; then sel="tier=\"$3\"\\}"; else sel='vault="[0-9a-f]*"\}'; fi
	grep -E "^$2[{,][^}]*$sel " "$1" | awk '{print $NF}'
}
expect_metric() { # FILE NAME TIER VALUE
	local got
	got=$(metric "$1" "$2" "$3")
	if [ "$got" = "$4" ]; then
		pass "$2${3:+{tier=$3\}} = $4"
	else
		fail "$2${3:+{tier=$3\}}: expected '$4', got '$got'"
	fi
}
# data_bytes TIER: bytes of the files under the tier's data/
data_bytes() { find "$TT_TMP/tiers/$1/data" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}'; }
# push_time REV: the unix time tier-log gives revision REV
push_time() {
	run_tool tier-log -s state --json --retries 2 --retry-delay 1
	date -d "$(jq -r ".revisions[] | select(.revision == $1) | .time" "$TT_STDOUT")" +%s
}

mkdir -p src
head -c 200000 /dev/urandom >src/a
echo small >src/b
run_tool tier-init -s state -t "local=$(file_tier local)" -t "nas=$(file_tier nas)"
expect_exit 0
run_tool tier-push -s state src
expect_exit 0

step "every tier online: metrics on stdout, exit 0"
run_tool tier-status -s state --prometheus
expect_exit 0
cp "$TT_STDOUT" all.prom
prom_check all.prom
run_tool tier-status -s state --json
vault=$(json_get .vault)
expect_json .max_revision 2
for t in local nas; do
	expect_metric all.prom tier_online "$t" 1
	expect_metric all.prom tier_synchronized "$t" 1
	expect_metric all.prom tier_revision "$t" 2
	expect_metric all.prom tier_lag_revisions "$t" 0
	expect_metric all.prom tier_stored_bytes "$t" "$(data_bytes "$t")"
	expect_metric all.prom tier_stored_packs "$t" "$(find "tiers/$t/data" -type f | wc -l)"
done
expect_metric all.prom tier_max_revision "" 2
expect_metric all.prom tier_status_ok "" 1
t2=$(push_time 2)
expect_metric all.prom tier_last_push_timestamp_seconds local "$t2"
if grep -q "vault=\"$vault\"" all.prom && grep -Eq 'installation="[0-9a-f]{8,}"' all.prom; then
	pass "samples carry the vault and installation ids"
else
	fail "labels: $(grep -m1 tier_online all.prom)"
fi
expect_metric all.prom 'tier_state\{state="ok"' local 1
n=$(now=$(date +%s); metric all.prom tier_status_time_seconds "" | awk -v now="$now" '{print (now - $1 < 120 && now >= $1) ? "ok" : $1}')
[ "$n" = ok ] && pass "tier_status_time_seconds is now" || fail "tier_status_time_seconds: $n"

step "the nas directory vanished: still there, online 0, exit 7, in FILE"
sleep 1 # another second for the second push's time
mv tiers/nas tiers/nas.gone
echo more >src/c
head -c 100000 /dev/urandom >src/d
run_tool tier-push -s state --retries 2 --retry-delay 1 src
expect_exit 0
mkdir -p textfile
run_tool tier-status -s state --retries 2 --retry-delay 1 --prometheus textfile/tier.prom
expect_exit 7
expect_stdout_empty
expect_stderr_match "warning: tier 'nas' .*offline"
prom_check textfile/tier.prom
f=textfile/tier.prom
expect_metric $f tier_online local 1
expect_metric $f tier_online nas 0
expect_metric $f tier_synchronized nas 0
expect_metric $f 'tier_state\{state="offline"' nas 1
expect_metric $f tier_max_revision "" 3
expect_metric $f tier_revision local 3
expect_metric $f tier_revision nas 2 # what this installation last saw there
expect_metric $f tier_lag_revisions nas 1
expect_metric $f tier_lag_revisions local 0
expect_metric $f tier_last_push_timestamp_seconds local "$(push_time 3)"
expect_metric $f tier_last_push_timestamp_seconds nas "$t2"
expect_metric $f tier_stored_bytes local "$(data_bytes local)"
expect_metric $f tier_stored_bytes nas "$(data_bytes nas.gone)"
[ "$(stat -c %a $f)" = 644 ] && pass "mode 0644: node_exporter's user reads it" ||
	fail "mode $(stat -c %a $f)"
left=$(ls -A textfile | grep -v '^tier.prom$')
[ -z "$left" ] && pass "no temporary file left beside it" || fail "left: $left"

step "FILE is replaced, not rewritten in place (a new inode each time)"
ino=$(stat -c %i $f)
run_tool tier-status -s state --retries 2 --retry-delay 1 --prometheus $f
expect_exit 7
[ "$(stat -c %i $f)" != "$ino" ] && pass "a new inode: renamed into place" ||
	fail "same inode: written in place (a scrape could read half a file)"
prom_check $f

step "back: tier-sync, then every tier level again"
mv tiers/nas.gone tiers/nas
run_tool tier-status -s state --prometheus $f
expect_exit 7 # behind
expect_metric $f tier_online nas 1
expect_metric $f 'tier_state\{state="behind"' nas 1
expect_metric $f tier_lag_revisions nas 1
run_tool tier-sync -s state
expect_exit 0
run_tool tier-status -s state --prometheus $f
expect_exit 0
expect_metric $f tier_lag_revisions nas 0
expect_metric $f tier_stored_bytes nas "$(data_bytes nas)"
expect_metric $f tier_last_push_timestamp_seconds nas "$(push_time 3)"

step "tiers alone, no installation"
run_tool tier-status -t "file://$TT_TMP/tiers/local" --prometheus
expect_exit 0
cp "$TT_STDOUT" alone.prom
prom_check alone.prom
expect_metric alone.prom tier_revision local 3
expect_stdout_match '^tier_online\{installation="",vault="[0-9a-f]+",tier="local"\} 1$'

step "bad input: one line, exit 2 or 1, nothing written"
run_tool tier-status -s state textfile/other.prom
expect_exit 2
expect_stderr_one_line
expect_stderr_match "FILE 'textfile/other.prom' is for --prometheus"
run_tool tier-status -s state --prometheus --json
expect_exit 2
expect_stderr_match 'exclude each other'
run_tool tier-status -s state --prometheus "$TT_TMP/no/such/dir/tier.prom"
expect_exit 1
expect_stderr_one_line
expect_stderr_match "cannot write '.*/no/such/dir/tier.prom': No such file or directory"
[ ! -e no ] && pass "nothing created" || fail "created $(find no)"
run_tool tier-status -s state --prometheus a.prom b.prom
expect_exit 2
[ ! -e a.prom ] && pass "no a.prom" || fail "a.prom written"

step "no vault to open: FILE says tier_status_ok 0 instead of going stale"
run_tool tier-status -s nostate --prometheus $f
expect_exit 2
expect_stderr_one_line
prom_check $f
expect_metric $f tier_status_ok "" 0
if grep -q '^tier_online' $f; then fail "tiers without a vault"; else pass "no tier rows"; fi
