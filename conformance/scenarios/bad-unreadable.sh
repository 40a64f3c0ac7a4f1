#!/usr/bin/env bash
# Bad input: an unreadable source file, and a given path that is missing.
# Each is reported in one line naming it (and in --json "unreadable"),
# everything else is backed up, the revision is written and printed, and
# tier-push exits 8 (revision written, some source files could not be read);
# earlier revisions stay.  When no given path can be read: no revision, exit 1.
# As root (who reads every file) the push runs as 'nobody' via setpriv.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want2

RUN_AS=()
if [ "$(id -u)" = 0 ]; then
	command -v setpriv >/dev/null || skip "running as root and no setpriv to drop privileges"
	chmod a+rwx "$TT_TMP"
	chmod -R a+rwX "$TT_TMP/state" "$TT_TMP/tiers" "$SRC" ${SRV_DIR:+"$SRV_DIR"}
	chmod a+rx "$(dirname "$TT_TMP")" 2>/dev/null || true
	RUN_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi

step "one file and one directory cannot be read"
echo secret >"$SRC/sub/secret.txt"
mkdir -p "$SRC/locked"
echo inside >"$SRC/locked/x.txt"
chmod 000 "$SRC/sub/secret.txt" "$SRC/locked"
echo readable >"$SRC/new.txt"
TT_CMD="tier-push (as ${RUN_AS[*]:-self}) -s state $SRC"
TT_STDOUT=$TT_RESULTS/unreadable.stdout
TT_STDERR=$TT_RESULTS/unreadable.stderr
TT_EXIT=0
"${RUN_AS[@]}" "$TIER_TOOLS_DIR/tier-push" "${CONF_OPTS[@]}" -s "$TT_TMP/state" "$SRC" \
	</dev/null >"$TT_STDOUT" 2>"$TT_STDERR" || TT_EXIT=$?
expect_exit 8
expect_stdout_match '^3$'
expect_stderr_match "secret.txt"
expect_stderr_match "locked"
expect_stderr_match "revision 3 was written, but 2 paths could not be read"
n=$(grep -c 'secret.txt' "$TT_STDERR")
check "the unreadable file is named in one line ($n)" [ "$n" = 1 ]

step "a missing path beside a readable one: reported, the rest backed up, --json names both"
TT_CMD="tier-push (as ${RUN_AS[*]:-self}) -s state --json $SRC $TT_TMP/gone"
TT_STDOUT=$TT_RESULTS/missing.stdout
TT_STDERR=$TT_RESULTS/missing.stderr
TT_EXIT=0
"${RUN_AS[@]}" "$TIER_TOOLS_DIR/tier-push" "${CONF_OPTS[@]}" -s "$TT_TMP/state" --json "$SRC" "$TT_TMP/gone" \
	</dev/null >"$TT_STDOUT" 2>"$TT_STDERR" || TT_EXIT=$?
expect_exit 8
expect_json .revision 4
expect_json '[.unreadable[].path] | sort | join(",")' "$TT_TMP/gone,$SRC/locked,$SRC/sub/secret.txt"
expect_json '.unreadable[] | select(.path == "'"$TT_TMP/gone"'") | .error' "no such file or directory"
expect_json '.unreadable[] | select(.path == "'"$SRC/sub/secret.txt"'") | .error' "permission denied"
expect_stderr_match "cannot read '$TT_TMP/gone': no such file or directory"
chmod 644 "$SRC/sub/secret.txt"
chmod 755 "$SRC/locked"

step "no given path can be read: no revision, exit 1"
tool tier-push -s state "$TT_TMP/gone" "$TT_TMP/gone2"
expect_exit 1
expect_stderr_match "cannot back up any of the 2 paths"
expect_rev local 4

step "the rest is in revision 3; revision 2 is intact"
tool tier-restore -s state -r 3 out3
expect_exit 0
check "new.txt backed up" cmp -s "$SRC/new.txt" "out3$SRC/new.txt"
check "numbers.txt backed up" cmp -s "$SRC/sub/deeper/numbers.txt" "out3$SRC/sub/deeper/numbers.txt"
check "the unreadable file is not in the snapshot" [ ! -e "out3$SRC/sub/secret.txt" ]
restore_check out2 "$TT_TMP/want2" -s state -r 2

step "readable again: the next push takes it"
tool tier-push -s state "$SRC"
expect_exit 0
snapshot want5
# (as nobody the tier under test may have been out of reach: level it)
tool tier-sync -s state
expect_exit 0
restore_check out5 "$TT_TMP/want5" -t "server=$SRV"
fsck_clean
git_fsck_both
