#!/usr/bin/env bash
# R8 Second installation: a tier ahead of what this installation stored is
# another installation's work: a write exits 3, naming the tier, both
# revisions, who wrote it, and what to do, and not one write on any tier;
# the reading tools (log, status, restore) still read, with a warning; a
# read-only follower never trips the check; a tier behind it (restored from an old
# image) gives exit 4 until the operator accepts the rollback.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0

# writes_logged: put/rename/remove/mkdir calls on the server in calls.log
writes_logged() {
	grep -cE '^(put|rename|remove|mkdir) ' "$TT_TMP/calls.log" 2>/dev/null || true
}
# fingerprint DIR: names, sizes and contents of a local tier
fingerprint() { (cd "$1" && find . -type f -exec md5sum {} + | sort); }

step "a read-only follower on another machine"
tool tier-init -s follower --read-only -t "server=$SRV" -t "local=$LOCAL"
expect_exit 0

step "another installation takes the vault over (tier-init --adopt)"
tool tier-init -s other --adopt -t "server=$SRV" -t "local=$LOCAL"
expect_exit 0
echo other >"$SRC/r8-other.txt"
tool tier-push -s other "$SRC"
expect_exit 0
max=$(rev server other)
snapshot want_other

step "the first installation's push: exit 3, one line naming tier, revisions, writer; nothing written"
before=$(fingerprint "$LOCAL_DIR")
rm -f "$TT_TMP/calls.log"
srv_fault "log $TT_TMP/calls.log"
echo mine >"$SRC/r8-mine.txt"
tool tier-push -s state "$SRC"
expect_exit 3
expect_stderr_one_line
expect_stderr_match "tier '(server|local)'"
expect_stderr_match "another installation"
expect_stderr_match "revision $max"
expect_stderr_match "revision 2"
# it adopted the vault: say so, and never advise --adopt (which would lock
# the new owner out); short enough to read (issue 13.9)
expect_stderr_match "took over the vault in revision 3"
expect_stderr_no_match "--adopt"
expect_stderr_match "vault of its own"
expect_stderr_match "tier-init --read-only"
len=$(wc -c <"$TT_STDERR")
check "the message is under 270 bytes with its prefix ($len)" [ "$len" -lt 270 ]
n=$(writes_logged)
check "no write call reached the server ($n)" [ "$n" = 0 ]
check "the local tier is byte for byte unchanged" [ "$before" = "$(fingerprint "$LOCAL_DIR")" ]
expect_rev server "$max" other
tool tier-sync -s state
expect_exit 3
n=$(writes_logged)
check "tier-sync of the first installation wrote nothing either ($n)" [ "$n" = 0 ]
tool tier-push -s state --json "$SRC"
expect_exit 3
expect_json .error.exit 3

step "the first installation still reads: log, status, restore (R8 guards writes)"
tool tier-status -s state
expect_exit 0
expect_stderr_match "took over the vault"
tool tier-status -s state --json
expect_exit 0
expect_json .max_revision "$max"
tool tier-log -s state
expect_exit 0
expect_stderr_match "warning: .*took over the vault"
expect_stdout_match "adopt"
restore_check first-out "$TT_TMP/want_other" -s state
n=$(writes_logged)
check "reading wrote nothing on the server ($n)" [ "$n" = 0 ]
tool tier-push -s state "$SRC"
expect_exit 3

step "the read-only follower follows without tripping, and never writes"
tool tier-status -s follower --json
expect_exit 0
expect_json .max_revision "$max"
restore_check fout "$TT_TMP/want_other" -s follower
rm -f "$TT_TMP/calls.log"
tool tier-push -s follower "$SRC"
check "a push from the read-only follower is refused (exit $TT_EXIT)" [ "$TT_EXIT" != 0 ]
n=$(writes_logged)
check "the follower's push wrote nothing ($n)" [ "$n" = 0 ]
srv_ok

step "a tier restored from an old image (rolled back): exit 4 until accepted"
cp -a "$LOCAL_DIR" "$TT_TMP/old-image"
echo newer >"$SRC/r8-newer.txt"
tool tier-push -s other "$SRC"
expect_exit 0
rm -rf "$LOCAL_DIR"
mv "$TT_TMP/old-image" "$LOCAL_DIR"
tool tier-status -s other
expect_exit 4
expect_stderr_match "local"
before=$(fingerprint "$LOCAL_DIR")
tool tier-push -s other "$SRC"
expect_exit 4
expect_stderr_match "local"
check "the rolled-back tier is untouched by the refused push" [ "$before" = "$(fingerprint "$LOCAL_DIR")" ]
tool tier-sync -s other --accept-rollback local
expect_exit 0
tool tier-status -s other
expect_exit 0
expect_rev local "$(rev server other)" other
snapshot want
restore_check out "$TT_TMP/want" -s other
git_fsck_both
