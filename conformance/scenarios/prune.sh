#!/usr/bin/env bash
# tier-prune (SPEC 7): after a forget the tiers shrink by the forgotten
# unique data; a pack with a little live data is rewritten; fsck
# --read-data is clean on every tier; every kept revision restores byte
# for byte; stock git reads the prune revision; a tier offline during the
# forget and prune gets both from tier-sync and ends with the same pack set
# (and never a pack dead at the newest revision); a young pack no revision
# names is kept, an old one removed; kill -9 at 20 instants (crash points
# and fault-tier crashes of puts, removes and renames): no kept revision
# lost, a rerun finishes, no false second installation.
. "$(dirname "$0")/../lib.sh"

export TZ=UTC
ctl=$TT_TMP/b.control
: >"$ctl"
log_git() { git --git-dir="$TT_TMP/tiers/$1/log.git" "${@:2}"; }
packs_of() { (cd "$TT_TMP/tiers/$1/data" 2>/dev/null && find . -type f | sort); }
# Bytes of the packs on tier $1 that its head does not name: what a killed
# prune uploaded.  A plaintext rerun makes the same packs again (same
# bytes, same ids); sealed packs have fresh nonces, so the killed run's
# stay until a later prune finds them past the grace period.
orphan_bytes() {
	local named f n=0
	named=$(log_git "$1" ls-tree -r --name-only HEAD index/ | sed 's|^index/||')
	for f in $(packs_of "$1"); do
		f=${f#./}
		grep -qxF "$f" <<<"$named" || n=$((n + $(stat -c %s "$TT_TMP/tiers/$1/data/$f")))
	done
	echo "$n"
}
data_bytes() { du -sb "$TT_TMP/tiers/$1/data" | cut -f1; }

# A history of 8 days: "base" lives for ever, "big1" (day 1, in the same
# pack as base) is gone on day 2, each day adds day-N and drops day-(N-2).
make_history() {
	rm -rf "$TT_TMP/tiers" state src want
	mkdir -p src
	tt_init_args tier-init
	"$TIER_TOOLS_DIR/tier-init" "${TT_INIT_ARGS[@]}" -q -s state -t "a=$(file_tier a)" \
		-t "b=fault+$(file_tier b)?fault=$ctl" >/dev/null 2>&1 || fail "init"
	head -c 200000 /dev/urandom >src/base
	head -c 1600000 /dev/urandom >src/big1
	for i in $(seq 1 8); do
		[ "$i" = 2 ] && rm src/big1
		rm -f "src/day-$((i - 2))"
		head -c 300000 /dev/urandom >"src/day-$i"
		echo "$i" >src/today
		"$TIER_TOOLS_DIR/tier-push" -q -s state --time "2026-03-0${i}T10:00:00Z" src \
			>push.out 2>push.err || fail "push $i: $(cat push.err)"
		r=$(cat push.out)
		mkdir -p "want/$r" && cp -a src "want/$r/"
	done
}

# Every revision the log does not show forgotten restores byte for byte.
kept_restore() {
	local ok=1 r
	for r in $(ls want); do
		"$TIER_TOOLS_DIR/tier-log" -q -s state --retries 1 --retry-delay 1 --json |
			jq -e ".revisions[] | select(.revision == $r) | .forgotten_by == null" >/dev/null || continue
		rm -rf "out-$r"
		"$TIER_TOOLS_DIR/tier-restore" -q -s state --retries 1 --retry-delay 1 -r "$r" "out-$r" 2>restore.err &&
			diff -r "want/$r/src" "out-$r/$TT_TMP/src" >/dev/null ||
			{ ok=0; echo "revision $r: $(cat restore.err)"; }
	done
	[ "$ok" = 1 ]
}

make_history
rev_count=$(log_git a rev-list --count HEAD)
a_before=$(data_bytes a)
packs_before=$(packs_of a)

step "a dry run says what would go, with bytes, and writes nothing"
run_tool tier-forget -s state --keep-last 3
expect_exit 0
frev=$(log_git a rev-list --count HEAD)
run_tool tier-prune -s state -n
expect_exit 0
expect_stdout_match "^would delete: [1-9][0-9]* packs \\([0-9.]+ [KM]iB\\) with nothing live$"
expect_stdout_match "^would rewrite: 1 pack "
expect_stderr_match "dry run: nothing written or deleted"
[ "$(packs_of a)" = "$packs_before" ] && [ "$(log_git a rev-list --count HEAD)" = "$frev" ] &&
	pass "no pack deleted, no revision written" || fail "a dry run changed the tier"

step "the prune, with tier b offline: a shrinks by the forgotten data"
echo offline >"$ctl"
run_tool tier-prune -s state --json --retries 1 --retry-delay 1
expect_exit 0
expect_json_object
expect_json '.packs_rewritten' 1
expect_json '.tiers | map(select(.result == "written")) | length' 1
deleted=$(json_get .packs_deleted)
[ "$deleted" -ge 3 ] && pass "$deleted packs deleted" || fail "only $deleted packs deleted"
a_after=$(data_bytes a)
# forgotten unique data: big1 (1.6 MB) and day-1..day-4 (4 x 300 kB), all
# random (lz4 cannot shrink it); kept (revisions of days 6-8): base,
# day-5..day-8 and small files
freed=$((a_before - a_after))
[ "$freed" -ge 2700000 ] && [ "$a_after" -ge 1400000 ] && [ "$a_after" -le 1600000 ] &&
	pass "a: $a_before -> $a_after bytes (freed $freed)" || fail "a: $a_before -> $a_after bytes"
prev=$(log_git a rev-list --count HEAD)
[ "$prev" = "$((frev + 1))" ] && pass "one prune revision ($prev)" || fail "revisions $frev -> $prev"
body=$(log_git a log -1 --format=%B)
grep -q '^Tier-Op: prune$' <<<"$body" && grep -q '^Tier-Prune-Deleted: [0-9]* [0-9]*$' <<<"$body" &&
	pass "stock git reads Tier-Op: prune" || fail "trailers: $body"
log_git a fsck --no-progress >git-fsck.out 2>&1 && pass "git fsck of a's log is clean" ||
	fail "git fsck: $(head -3 git-fsck.out)"
[ -z "$(comm -23 <(packs_of a) <(log_git a ls-tree -r --name-only HEAD index | sed 's|^index/\(..\)/|./\1/|'))" ] &&
	pass "every pack on a is named by its head" || fail "a holds packs its head does not name"

step "every kept revision restores byte for byte; fsck --read-data is clean"
kept_restore >kept.out && pass "kept revisions restore" || fail "$(cat kept.out)"
run_tool tier-fsck -t "a=$(file_tier a)" --read-data
expect_exit 0

step "tier b returns: tier-sync replays forget and prune, same pack set as a"
: >"$ctl"
run_tool tier-sync -s state
expect_exit 0
expect_stderr_match "deleted [0-9]+ packs that a replayed prune deleted"
[ "$(packs_of b)" = "$(packs_of a)" ] && pass "b holds exactly a's packs" ||
	fail "pack sets differ: $(diff <(packs_of a) <(packs_of b) | head -3)"
run_tool tier-fsck -s state --read-data
expect_exit 0

step "a tier that missed pushes and the prune is never given a dead pack"
echo offline >"$ctl"
echo more >src/more
head -c 300000 /dev/urandom >src/day-9
"$TIER_TOOLS_DIR/tier-push" -q -s state --retries 1 --retry-delay 1 src >/dev/null 2>&1
rm src/day-9
"$TIER_TOOLS_DIR/tier-push" -q -s state --retries 1 --retry-delay 1 src >/dev/null 2>&1
"$TIER_TOOLS_DIR/tier-forget" -q -s state --retries 1 --retry-delay 1 --keep-last 1 --prune >/dev/null 2>&1 ||
	fail "forget --prune with b away"
: >"$ctl"
run_tool tier-sync -s state
expect_exit 0
[ "$(packs_of b)" = "$(packs_of a)" ] && pass "b holds exactly a's packs again" ||
	fail "pack sets differ: $(diff <(packs_of a) <(packs_of b) | head -3)"
dead9=0
for p in $(packs_of b); do
	log_git a ls-tree -r --name-only HEAD index | grep -q "${p##*/}" || dead9=1
done
[ "$dead9" = 0 ] && pass "no pack on b that the newest revision does not name" || fail "b got a dead pack"

step "a pack no revision names: kept while young, removed past the grace period"
fake=$TT_TMP/tiers/a/data/ab/ab$(printf '%062d' 7)
mkdir -p "${fake%/*}" && echo unfinished >"$fake"
run_tool tier-prune -s state
expect_exit 0
expect_stdout_match "1 unnamed kept for the grace period"
[ -f "$fake" ] && pass "a young unnamed pack is kept" || fail "a young unnamed pack was deleted"
touch -d '2 hours ago' "$fake"
run_tool tier-prune -s state
expect_exit 0
expect_stdout_match "\\(1 that no revision named\\)"
[ ! -e "$fake" ] && pass "an old unnamed pack is removed" || fail "an old unnamed pack is still there"
run_tool tier-prune -s state --grace 0 --max-unused 101
expect_exit 2
expect_stderr_one_line

step "a forgotten, pruned push is never the base of the next push of its paths"
mkdir -p alpha beta
head -c 500000 /dev/urandom >alpha/x
echo beta >beta/y
"$TIER_TOOLS_DIR/tier-push" -q -s state "$TT_TMP/alpha" >/dev/null 2>&1 || fail "push alpha"
"$TIER_TOOLS_DIR/tier-push" -q -s state "$TT_TMP/beta" >/dev/null 2>&1 || fail "push beta"
"$TIER_TOOLS_DIR/tier-forget" -q -s state --keep-last 1 --prune >/dev/null 2>&1 || fail "forget --prune"
run_tool tier-push -s state "$TT_TMP/alpha"
expect_exit 0
arev=$(last_stdout)
rm -rf out-alpha
run_tool tier-restore -q -s state -r "$arev" out-alpha
expect_exit 0
cmp alpha/x "out-alpha/$TT_TMP/alpha/x" && pass "alpha pushed again restores byte for byte" ||
	fail "alpha's re-push lost its data"
run_tool tier-fsck -s state --read-data
expect_exit 0

step "kill -9 of a prune at 20 instants: nothing kept lost, a rerun finishes"
make_history
"$TIER_TOOLS_DIR/tier-forget" -q -s state --keep-last 3 >/dev/null 2>&1 || fail "forget"
tar -C "$TT_TMP" -cf "$TT_TMP/base.tar" tiers state
instants=(
	"env:prune.put" "env:prune.commit" "env:write.persisted" "env:write.intent" "env:write.pack"
	"env:write.head" "env:write.ref" "env:prune.committed" "env:prune.delete:1" "env:prune.delete:3"
	"env:prune.delete:7" "fault:crash put 1" "fault:crash put 2" "fault:crash put 3" "fault:crash rename 1"
	"fault:crash remove 1" "fault:crash remove 2" "fault:crash remove 4" "fault:crash list 3" "fault:crash get 2"
)
n=0
for inst in "${instants[@]}"; do
	rm -rf "$TT_TMP/tiers" "$TT_TMP/state"
	tar -C "$TT_TMP" -xf "$TT_TMP/base.tar"
	: >"$ctl"
	code=0
	case $inst in
	env:*) TIER_TEST_CRASH=${inst#env:} "$TIER_TOOLS_DIR/tier-prune" -q -s state >/dev/null 2>&1 || code=$? ;;
	fault:*)
		echo "${inst#fault:}" >"$ctl"
		"$TIER_TOOLS_DIR/tier-prune" -q -s state >/dev/null 2>&1 || code=$?
		: >"$ctl"
		;;
	esac
	[ "$code" = 137 ] || { fail "$inst: the prune was not killed (exit $code)"; continue; }
	kept_restore >kept.out || { fail "$inst: after the kill: $(cat kept.out)"; continue; }
	"$TIER_TOOLS_DIR/tier-sync" -q -s state >/dev/null 2>sync.err || { fail "$inst: sync: $(cat sync.err)"; continue; }
	"$TIER_TOOLS_DIR/tier-prune" -q -s state >/dev/null 2>prune.err || { fail "$inst: rerun: $(cat prune.err)"; continue; }
	"$TIER_TOOLS_DIR/tier-fsck" -q -s state --read-data >/dev/null 2>fsck.err || { fail "$inst: fsck: $(head -3 fsck.err)"; continue; }
	"$TIER_TOOLS_DIR/tier-status" -q -s state >/dev/null 2>status.err || { fail "$inst: status: $(cat status.err)"; continue; }
	kept_restore >kept.out || { fail "$inst: after the rerun: $(cat kept.out)"; continue; }
	[ "$TT_ENCRYPTION" != none ] || [ "$(packs_of a)" = "$(packs_of b)" ] || { fail "$inst: a and b hold different packs"; continue; }
	[ "$(($(data_bytes a) - $(orphan_bytes a)))" -le 1600000 ] || { fail "$inst: the rerun left $(data_bytes a) bytes on a"; continue; }
	n=$((n + 1))
done
[ "$n" = 20 ] && pass "20 kills: every kept revision restores, the rerun finished the job" || fail "$n of 20 kills recovered"
