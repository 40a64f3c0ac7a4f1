#!/usr/bin/env bash
# Bad input: a push killed (kill -9) or interrupted (Ctrl-C) half way.  The
# data packs it had sent to every tier are recorded in the installation as
# they complete; the rerun checks that each tier still holds them (size)
# and names them in its revision instead of sending them again.  So each
# tier grows by the data plus at most about one pack, the restore equals the
# source, and fsck finds nothing (issue 13 point 4).
. "$(dirname "$0")/../conf.sh"

conf_init
PACK_KIB=256
# ~4 MiB that does not compress, in files of 32 KiB: ~16 packs of 256 KiB
rm -rf "$SRC"
mkdir -p "$SRC"
head -c 4194304 /dev/urandom | split -b 32768 - "$SRC/part"
snapshot want
data_kib=$(du -sk --apparent-size "$SRC" | cut -f1)

# size_kib DIR: what the data packs under DIR take
size_kib() { find "$1/data" -type f -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print int(s/1024)}'; }
records() { find state/resume -name '*.tail' 2>/dev/null | wc -l; }

step "kill -9 at the server's 9th upload"
srv_fault "crash put 9"
tool tier-push -s state --pack-size "$PACK_KIB" --threads 2 "$SRC"
expect_exit 137
n=$(records)
check "the packs on both tiers are recorded ($n)" [ "$n" -ge 6 ]

step "the rerun reuses them"
srv_ok
tool tier-push -s state --pack-size "$PACK_KIB" --threads 2 --json "$SRC"
expect_exit 0
resumed=$(jq -r .stats.resumed_packs "$TT_STDOUT")
check "packs reused: $resumed of $n recorded" [ "$resumed" = "$n" ]
check "no record left once the revision names them" [ "$(records)" = 0 ]
limit=$((data_kib + 2 * PACK_KIB + 64))
got=$(size_kib "$LOCAL_DIR")
check "local tier data: $got KiB for $data_kib KiB (at most $limit)" [ "$got" -le "$limit" ]
if [ -n "$SRV_DIR" ]; then
	got=$(size_kib "$SRV_DIR")
	check "server tier data: $got KiB for $data_kib KiB (at most $limit)" [ "$got" -le "$limit" ]
fi
restore_check out1 "$TT_TMP/want" -t "server=$SRV"

step "Ctrl-C after a few packs, on a slow server"
head -c 8388608 /dev/urandom | split -b 32768 - "$SRC/more"
snapshot want2
srv_fault "delay 150"
TT_CMD="tier-push -s state --pack-size $PACK_KIB $SRC (SIGINT)"
TT_STDOUT=$TT_RESULTS/int.stdout
TT_STDERR=$TT_RESULTS/int.stderr
"$TIER_TOOLS_DIR/tier-push" "${CONF_OPTS[@]}" -s state --pack-size "$PACK_KIB" --threads 2 "$SRC" \
	</dev/null >"$TT_STDOUT" 2>"$TT_STDERR" &
pid=$!
for _ in $(seq 1 300); do
	[ "$(records)" -ge 2 ] && break
	sleep 0.05
done
kill -INT "$pid"
TT_EXIT=0
wait "$pid" || TT_EXIT=$?
expect_exit 6
n=$(records)
check "packs sent before the interruption are recorded ($n)" [ "$n" -ge 2 ]
srv_ok
tool tier-push -s state --pack-size "$PACK_KIB" --json "$SRC"
expect_exit 0
resumed=$(jq -r .stats.resumed_packs "$TT_STDOUT")
check "packs reused after Ctrl-C: $resumed of $n" [ "$resumed" -ge 2 ]
restore_check out2 "$TT_TMP/want2" -t "server=$SRV"

step "a recorded pack the tier lost is not reused"
head -c 1048576 /dev/urandom | split -b 32768 - "$SRC/last"
snapshot want3
srv_fault "crash put 3"
tool tier-push -s state --pack-size "$PACK_KIB" --threads 1 "$SRC"
expect_exit 137
n=$(records)
# the first recorded pack goes missing from the local tier
f=$(find state/resume -name '*.tail' | head -n 1)
h=$(basename "$f" .tail)
rm -f "$LOCAL_DIR/data/${h:0:2}/$h"
srv_ok
tool tier-push -s state --pack-size "$PACK_KIB" --json "$SRC"
expect_exit 0
resumed=$(jq -r .stats.resumed_packs "$TT_STDOUT")
check "the lost one is sent again: $resumed of $n reused" [ "$resumed" = $((n - 1)) ]
restore_check out3 "$TT_TMP/want3" -t "local=$LOCAL"
restore_check out4 "$TT_TMP/want3" -t "server=$SRV"
fsck_clean
git_fsck_both
