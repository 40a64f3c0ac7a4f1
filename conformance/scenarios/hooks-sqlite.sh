#!/usr/bin/env bash
# The worked example of docs/hooks.md, run verbatim: its dump-db.sh and its
# setup lines are taken from the page (the blocks after "<!-- example: ...
# -->"), with /etc, /var and /srv moved into the scenario's directory.  A
# real SQLite database (WAL, written to during the push) is dumped by the
# pre-hook, backed up from push.path, restored, and checked.
. "$(dirname "$0")/../lib.sh"

command -v sqlite3 >/dev/null ||
	skip "sqlite3 is not installed (apt-get install sqlite3; ci/install-deps.sh installs it)"
doc=${TIER_SOURCE_DIR:-$(dirname "$0")/../..}/docs/hooks.md
[ -f "$doc" ] || fail "no $doc"
R=$TT_TMP/root
export PATH=$TIER_TOOLS_DIR:$PATH

# the fenced block after the marker line, paths moved under $R
example() {
	awk -v m="<!-- example: $1 -->" '
		$0 == m { found = 1; next }
		found && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$doc" |
		sed -E "s#(^|[ '\"=>])/(etc|var|srv)([/ '\"]|\$)#\1$R/\2\3#g"
}

mkdir -p "$R/etc/tier" "$R/srv/app" "$R/var/lib" "$R/var/log"
example dump-db.sh >"$R/etc/tier/dump-db.sh"
example setup >setup.sh
grep -q '^sqlite3 -readonly ' "$R/etc/tier/dump-db.sh" && grep -q '^tier-push ' setup.sh &&
	pass "both example blocks found in docs/hooks.md" ||
	fail "example blocks missing: $(cat "$R/etc/tier/dump-db.sh" setup.sh)"
printf 'etc file\n' >"$R/etc/hostname"

step "an application database, written to while the push runs"
db=$R/srv/app/app.db
sqlite3 "$db" 'PRAGMA journal_mode=WAL;
	CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
	INSERT INTO t(v) SELECT hex(randomblob(64)) FROM n;' >/dev/null
(while :; do
	sqlite3 "$db" ".timeout 2000" "INSERT INTO t(v) VALUES (hex(randomblob(64)));" 2>/dev/null
done) &
writer=$!
tt_at_exit "kill $writer 2>/dev/null"

run_tool tier-init -s "$R/var/lib/tier" -t "a=$(file_tier a)"
expect_exit 0

step "the setup of docs/hooks.md, line by line"
TT_CMD="sh setup.sh"
sh -eu setup.sh >setup.out 2>setup.err
TT_EXIT=$?
TT_STDOUT=setup.out TT_STDERR=setup.err
expect_exit 0
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
expect_stderr_match "^dump-db: 1 dump\(s\) in $R/var/backups/db\$"
rev=$(tail -n 1 setup.out)
[[ $rev =~ ^[0-9]+$ ]] && pass "the push printed revision $rev" || fail "stdout: $(cat setup.out)"
grep -q "revision $rev: success\$" "$R/var/log/tier-push.log" &&
	pass "the post-hook logged: $(cat "$R/var/log/tier-push.log")" ||
	fail "log: $(cat "$R/var/log/tier-push.log" 2>&1)"
[ ! -e "$R/var/backups/db/app.db.tmp" ] && pass "no temporary dump left" ||
	fail "app.db.tmp left behind"

step "restore the dump: a sound database with every row of the dump"
run_tool tier-restore -s "$R/var/lib/tier" -r "$rev" restored
expect_exit 0
got=restored$R/var/backups/db/app.db
[ "$(sqlite3 "$got" 'PRAGMA integrity_check')" = ok ] &&
	pass "integrity_check: ok" || fail "integrity_check: $(sqlite3 "$got" 'PRAGMA integrity_check' 2>&1)"
n=$(sqlite3 "$got" 'SELECT count(*) FROM t')
want=$(sqlite3 "$R/var/backups/db/app.db" 'SELECT count(*) FROM t')
[ "$n" = "$want" ] && [ "$n" -ge 5000 ] && pass "$n rows, as dumped" ||
	fail "restored $n rows, dump has $want"
cmp -s "$R/etc/hostname" "restored$R/etc/hostname" &&
	pass "push.path /etc backed up too" || fail "/etc/hostname not restored"

step "a dump that fails (the database is gone) stops the push"
rm "$db" "$db"-*
run_tool tier-push -s "$R/var/lib/tier"
expect_exit 1
expect_stderr_match "hooks.prePush exited with status 1"
expect_stdout_empty
grep -q "revision none: failed\$" "$R/var/log/tier-push.log" &&
	fail "the post-hook ran after a refused pre-hook" ||
	pass "no post-hook after a refused pre-hook"
