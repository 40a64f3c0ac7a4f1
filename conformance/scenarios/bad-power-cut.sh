#!/usr/bin/env bash
# Bad input: a power cut at any instant of a push.  Every put of the server is
# torn in turn: the upload half there under a temporary name ("keep") or
# never arrived ("drop"); data and log packs also arrive under their final
# name with bytes flipped ("garble"); the link then breaks.  Afterwards no run
# sees a second installation or a rollback, sync levels the server, and
# fsck --read-data of the server alone finds every chunk intact.
. "$(dirname "$0")/../conf.sh"

conf_init
tool tier-push -s state "$SRC"
expect_exit 0

# garble stops at put 3: put 4 is the head, and a store that lies about
# the head is not a power cut (see docs/conformance.md)
for mode in keep drop garble; do
	for n in 1 2 3 4 5; do
		[ "$mode" = garble ] && [ "$n" -gt 3 ] && continue
		step "torn put $n ($mode)"
		head -c 30000 /dev/urandom >"$SRC/cut-$mode-$n.bin"
		srv_fault "torn put $n $mode"
		run_tool tier-push -s state --retries 1 --retry-delay 1 "$SRC"
		expect_exit 0
		srv_ok
		tool tier-status -s state
		expect_exit_in "0 7"
		tool tier-sync -s state
		expect_exit 0
	done
done

step "the server alone holds every revision intact"
expect_rev server "$(rev local)"
tool tier-fsck -t "server=$SRV" --read-data
expect_exit 0
snapshot want
restore_check out "$TT_TMP/want" -t "server=$SRV"
fsck_clean
git_fsck_both
