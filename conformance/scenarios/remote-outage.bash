# Real outages of a remote tier (not a fault+ wrapper): the body of
# remote-ftp-outage.sh, remote-ftps-outage.sh and remote-sftp-outage.sh,
# which source this file; the kind comes from the scenario's name.  (Not a
# .sh itself, so that ctest does not run it on its own.)
#
# Against the loopback servers of ci/servers.sh (eval "$(ci/servers.sh env)";
# without TIER_TEST_FTP_URL / TIER_TEST_SFTP_URL the scenario skips):
#  1. the server is killed in the middle of a push: the push completes on the
#     local tier (exit 0, the server tier reported); tier-status says offline
#     (7); restarted, behind (7); tier-sync levels it; fsck --read-data is
#     clean; a restore from the server tier alone equals the source;
#  2. killed in the middle of a sync: the sync fails (1 or 6), the next one
#     resumes (sends fewer packs than were missing) and levels the tier;
#  3. a wrong password (sftp: a key the server does not know): exit 1 within
#     seconds (no retries), one message naming the login, no password;
#  4. a server that accepts connections and never answers: a push with a
#     local tier beside it exits 0 with the silent tier skipped, in bounded
#     time (--timeout 2; tools without --timeout wait the library default of
#     30 s per attempt, so then that check runs with --retries 1).
# A server killed here is restarted when the scenario ends, whatever happens;
# the exclusive lock on $TIER_SERVERS_DIR/tests.lock keeps tests that share
# the servers from seeing the outage.

# before lib.sh moves into the temporary directory
src_dir=${TIER_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../conf.sh
. "$(dirname "$0")/../conf.sh"

# SPEC R1: tests retry fast; a small timeout where the tools take one.
CONF_OPTS=(--retries 3 --retry-delay 5)
HAVE_TIMEOUT=0
if "$TIER_TOOLS_DIR/tier-push" --help 2>/dev/null | grep -q -- '--timeout'; then
	HAVE_TIMEOUT=1
	CONF_OPTS+=(--timeout 10)
fi

KIND=${TT_SCENARIO#remote-}
KIND=${KIND%-outage}
case $KIND in
ftp) base=${TIER_TEST_FTP_URL:-} srv_dir=${TIER_TEST_FTP_DIR:-} server=ftp ;;
ftps) base=${TIER_TEST_FTPS_URL:-} srv_dir=${TIER_TEST_FTP_DIR:-} server=ftp ;;
sftp) base=${TIER_TEST_SFTP_URL:-} srv_dir=${TIER_TEST_SFTP_DIR:-} server=sftp ;;
*)
	echo "remote-outage: unknown kind '$KIND'" >&2
	exit 2
	;;
esac
[ -n "$base" ] || skip "no $KIND test server (eval \"\$(ci/servers.sh env)\" sets TIER_TEST_*_URL)"
command -v curl >/dev/null || skip "no curl to create the tier root on the server"
command -v jq >/dev/null || skip "no jq"

servers=$src_dir/ci/servers.sh

server_kill() {
	local v
	v=TIER_TEST_${server^^}_KILL
	if [ -n "${!v:-}" ]; then eval "${!v}"; else "$servers" kill "$server"; fi >/dev/null 2>&1
}

server_restart() {
	local v
	v=TIER_TEST_${server^^}_RESTART
	if [ -n "${!v:-}" ]; then eval "${!v}"; else "$servers" restart "$server"; fi >/dev/null 2>&1
}

# Other tests must find the server up after us: restart it at the end even
# when a check failed or the script stopped early.
tt_at_exit 'server_restart'

# An outage must not hit a test that shares the server: take the lock the
# server tests share, exclusively (ci/servers.sh, docs/remote-tiers.md).
if [ -n "${TIER_SERVERS_DIR:-}" ] && [ -d "$TIER_SERVERS_DIR" ]; then
	exec 9>>"$TIER_SERVERS_DIR/tests.lock"
	flock -x -w 600 9 || fail "cannot lock $TIER_SERVERS_DIR/tests.lock"
fi

# URLs: a fresh sub-directory per run; sftp options stay in the query.
sub=remote-$KIND-$(date +%s)-$$
b=${base%%\?*}
query=${base#"$b"}
URL=${b%/}/$sub$query
PASS=
if [[ $b =~ ^[a-z]+://[^/@:]+:([^/@]*)@ ]]; then PASS=${BASH_REMATCH[1]}; fi
SHOW=$(sed -E 's#^([a-z]+://[^/@:]*):[^/@]*@#\1:***@#' <<<"$URL")
watch_dir=
if [ -n "$srv_dir" ]; then
	watch_dir=${srv_dir%/}/$sub
	tt_at_exit "rm -rf '$watch_dir'"
fi

# sftp URL query options, for curl
q_opt() {
	local p
	local IFS='&'
	for p in ${query#\?}; do
		[ "${p%%=*}" = "$1" ] && printf '%s\n' "${p#*=}"
	done
}

# The tier root must exist (nothing creates it: docs/remote-tiers.md); make
# it with curl, as an operator would, over the protocol itself.
make_root() {
	case $KIND in
	ftp) curl -sS --ftp-create-dirs -o /dev/null "${b%/}/$sub/" ;;
	# curl's ftps:// is implicit TLS; explicit TLS is ftp:// --ssl-reqd
	ftps) curl -sS --ssl-reqd --cacert "${TIER_TEST_CACERT:-}" --ftp-create-dirs -o /dev/null "ftp://${b#ftps://}/$sub/" ;;
	sftp)
		local key kh path hostkey=() hp
		key=$(q_opt key)
		kh=$(q_opt known_hosts)
		path=${b#sftp://*/}
		path=/${path#/}
		if [ -n "${TIER_TEST_SFTP_HOSTKEY:-}" ]; then
			hp=${TIER_TEST_SFTP_HOSTKEY#SHA256:}
			hostkey=(--hostpubsha256 "$hp")
		elif [ -n "$kh" ]; then
			mkdir -p "$HOME/.ssh" && cp "$kh" "$HOME/.ssh/known_hosts"
		fi
		curl -sS ${key:+--key "$key"} ${key:+--pubkey "$key.pub"} "${hostkey[@]}" \
			-Q "mkdir ${path%/}/$sub" -o /dev/null "${b%/}/"
		;;
	esac
}

# ftps: the tools must be able to trust the test CA.
TLS_OPTS=()
if [ "$KIND" = ftps ]; then
	if "$TIER_TOOLS_DIR/tier-status" --help 2>/dev/null | grep -q -- '--cacert'; then
		TLS_OPTS=(--cacert "$TIER_TEST_CACERT")
	else
		step "ftps: a certificate the tools cannot trust fails at once, in one line"
		make_root || fail "cannot create the tier root $SHOW with curl"
		tool tier-init -s state -t "server=$URL"
		expect_exit 1
		expect_stderr_one_line
		expect_stderr_match 'certificate.*not trusted'
		[ -n "$PASS" ] && expect_stderr_no_match "$PASS"
		skip "the tools have no --cacert (nor a config key) for ftps: the outage steps cannot run (gap)"
	fi
	CONF_OPTS+=("${TLS_OPTS[@]}")
fi

# ~40 MiB of random data in 10 files: a push takes long enough to be cut.
SRC=$TT_TMP/src
mkdir -p "$SRC/sub"
for i in 0 1 2 3 4 5 6 7 8 9; do
	head -c 4194304 /dev/urandom >"$SRC/sub/f$i.bin"
done
printf 'alpha\n' >"$SRC/a.txt"
ln -s a.txt "$SRC/link"
LOCAL=$(file_tier local)

# kill_when DIR MIN: in the background, kill the server once DIR holds MIN
# or more finished files (temp names, which start with a dot, excluded), or after 3 s; without a
# local view of the server (DIR empty), after 0.2 s.  Writes $TT_TMP/killed.
kill_when() {
	(
		local dir=$1 min=$2 n i
		if [ -z "$dir" ]; then
			sleep 0.2
		else
			for ((i = 0; i < 300; i++)); do
				n=$(find "$dir" -type f ! -name '.*' 2>/dev/null | wc -l)
				[ "$n" -ge "$min" ] && break
				sleep 0.01
			done
		fi
		server_kill
		echo "$i" >"$TT_TMP/killed"
	) &
	KILLER=$!
}

# packs DIR: how many finished data packs the server holds now.
packs() {
	if [ -n "$1" ]; then find "$1/data" -type f ! -name '.*' 2>/dev/null | wc -l; else echo 0; fi
}

step "$KIND: a vault on a local tier (first) and the server tier $SHOW"
make_root || fail "cannot create the tier root $SHOW with curl"
tool tier-init -s state -t "local=$LOCAL" -t "server=$URL"
expect_exit 0
[ "$TT_EXIT" = 0 ] || exit 1

step "$KIND: the server is killed in the middle of a push"
rm -f "$TT_TMP/killed"
kill_when "${watch_dir:+$watch_dir/data}" 1
# capped at 16 MiB/s: the push lasts ~2.5 s, so the kill lands inside it
# even when a loaded machine runs the killer late (CI once saw the whole
# uncapped push finish first)
tool tier-push -s state --threads 1 --limit-upload 16M "$SRC"
wait "$KILLER"
expect_exit 0
if grep -q ' on 2 of 2 tiers' "$TT_STDERR"; then
	fail "the push ended before the server was killed: cannot test the outage"
else
	expect_stderr_match "revision [0-9]+ on 1 of 2 tiers"
	expect_stderr_match "warning: tier 'server'.*(skipped|failed|offline)"
fi
[ -n "$PASS" ] && expect_stderr_no_match "$PASS"
rev1=$(last_stdout)
cp -a "$SRC" "$TT_TMP/want1"

tool tier-status -s state --json
expect_exit 7
expect_json '.tiers[] | select(.name == "server") | .online' false
expect_json '.tiers[] | select(.name == "local") | .revision' "$rev1"

step "$KIND: restarted, the server tier is behind; tier-sync levels it"
server_restart
tool tier-status -s state --json
expect_exit 7
expect_json '.tiers[] | select(.name == "server") | .online' true
expect_json '.tiers[] | select(.name == "server") | .synchronized' false
tool tier-sync -s state
expect_exit 0
tool tier-status -s state --json
expect_exit 0
expect_rev server "$rev1"
expect_synced server
expect_synced local
tool tier-fsck -s state --read-data
expect_exit 0
tool tier-fsck -t "server=$URL" --read-data
expect_exit 0
restore_check out1 "$TT_TMP/want1" -t "server=$URL"
[ -n "$watch_dir" ] && git_fsck "$watch_dir" server

step "$KIND: three revisions pushed while the server is away (~36 MiB behind)"
server_kill
total_packs=0
for r in 1 2 3; do
	for i in 0 1 2; do
		head -c 4194304 /dev/urandom >"$SRC/sub/r$r-$i.bin"
	done
	tool tier-push -s state --json --threads 1 "$SRC"
	expect_exit 0
	expect_push_result server skipped-offline
	total_packs=$((total_packs + $(json_get .stats.packs)))
done
rev4=$(json_get .revision)
cp -a "$SRC" "$TT_TMP/want4"
server_restart

step "$KIND: the server is killed in the middle of the sync"
before=$(packs "$watch_dir")
kill_when "${watch_dir:+$watch_dir/data}" $((before + 1))
tool tier-sync -s state --json
wait "$KILLER"
expect_exit_in "1 6"
expect_stderr_match "server"
[ -n "$PASS" ] && expect_stderr_no_match "$PASS"
server_restart
mid=$(rev server)
ok=false
[ -n "$mid" ] && [ "$mid" -ge "$rev1" ] && [ "$mid" -lt "$rev4" ] && ok=true
check "the cut sync left the server tier between $rev1 and $rev4 (at '$mid')" $ok

step "$KIND: the next sync resumes and levels the tier"
tool tier-sync -s state --json
expect_exit 0
sent=$(json_get .stats.packs)
echo "      packs missing after the outage: $total_packs; sent by the resumed sync: $sent" >&3
ok=false
[ -n "$sent" ] && [ "$sent" -lt "$total_packs" ] && ok=true
check "the resumed sync sends fewer packs ($sent) than were missing ($total_packs)" $ok
tool tier-status -s state --json
expect_exit 0
expect_rev server "$rev4"
expect_synced server
tool tier-fsck -s state --read-data
expect_exit 0
restore_check out4 "$TT_TMP/want4" -t "server=$URL"
[ -n "$watch_dir" ] && git_fsck "$watch_dir" server

step "$KIND: a wrong password fails at once, in one line, without the password"
case $KIND in
ftp | ftps)
	WRONG=Wr0ng-$$-pw
	WURL=$(sed -E "s#^([a-z]+://[^/@:]+):[^/@]*@#\\1:$WRONG@#" <<<"$URL")
	;;
sftp)
	# key login: a key the server does not know
	ssh-keygen -q -t ed25519 -N '' -f "$TT_TMP/stranger" || fail "ssh-keygen"
	WRONG=
	WURL=$(sed -E "s#key=[^&]*#key=$TT_TMP/stranger#" <<<"$URL")
	;;
esac
t0=$(date +%s%N)
tool tier-init -s wrong -t "server=$WURL"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_exit 1
expect_stderr_one_line
expect_stderr_match 'login|password|key'
[ -n "$WRONG" ] && expect_stderr_no_match "$WRONG"
check "tier-init with a wrong login ends within 10 s (${ms} ms: not retried)" [ "$ms" -lt 10000 ]

t0=$(date +%s%N)
tool tier-status -t "server=$WURL"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_exit_in "1 7"
n=$(grep -Ec 'login|password|key .*not accepted' "$TT_STDERR")
check "tier-status says it once (lines naming the login: $n)" [ "$n" = 1 ]
[ -n "$WRONG" ] && expect_stderr_no_match "$WRONG"
check "tier-status with a wrong login ends within 10 s (${ms} ms)" [ "$ms" -lt 10000 ]

# A push whose only tier refuses the login is an error, not an outage to
# wait for (R1: authentication is permanent; R3 waits for tiers that are
# away).  --wait-timeout bounds the run should it wait anyway.
t0=$(date +%s%N)
tool tier-push -s state -t "server=$WURL" --wait-timeout 10 "$SRC"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_exit 1
expect_stderr_match 'login|password|key'
[ -n "$WRONG" ] && expect_stderr_no_match "$WRONG"
check "tier-push to a tier with a wrong login ends within 10 s (${ms} ms)" [ "$ms" -lt 10000 ]

# Beside a good tier the backup goes on; the login problem is said.
t0=$(date +%s%N)
tool tier-push -s state -t "local=$LOCAL" -t "server=$WURL" "$SRC"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_exit_in "0 1"
expect_stderr_match "server.*(login|password|key)"
[ -n "$WRONG" ] && expect_stderr_no_match "$WRONG"
check "tier-push beside a tier with a wrong login ends within 15 s (${ms} ms)" [ "$ms" -lt 15000 ]
echo "      push beside a wrong login: exit $TT_EXIT in $ms ms" >&3

step "$KIND: a server that accepts connections and never answers"
if ! command -v python3 >/dev/null; then
	fail "no python3 for the silent server"
else
	# one process that listens and never accepts: the kernel completes
	# every handshake, nothing is ever said (no fd 9: it holds the lock)
	python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
time.sleep(600)
' >"$TT_TMP/silent.port" 9>&- &
	SILENT=$!
	tt_at_exit "kill $SILENT 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		port=$(cat "$TT_TMP/silent.port")
		[ -n "$port" ] && break
		sleep 0.02
	done
	case $KIND in
	ftp | ftps) SURL="$KIND://user:Silent-$$@127.0.0.1:$port/x" ;;
	sftp) SURL="sftp://tiersftp@127.0.0.1:$port/x$query" ;;
	esac
	if [ "$HAVE_TIMEOUT" = 1 ]; then
		# 3 attempts of 2 s
		limit=15
		sopts=(--retries 3 --retry-delay 5 --timeout 2)
	else
		# no way to shorten the 30 s default: one attempt only
		limit=45
		sopts=(--retries 1)
	fi
	t0=$(date +%s%N)
	run_tool tier-push -s state "${sopts[@]}" "${TLS_OPTS[@]}" -t "local=$LOCAL" -t "server=$SURL" "$SRC"
	ms=$((($(date +%s%N) - t0) / 1000000))
	expect_exit 0
	expect_stderr_match "warning: tier 'server' (skipped \\(offline\\)|is offline: .*; skipped)"
	expect_stderr_match "revision [0-9]+ on 1 of 2 tiers"
	echo "      push beside a silent server: ${ms} ms with ${sopts[*]}" >&3
	check "push beside a silent server ends within $limit s (${ms} ms)" [ "$ms" -lt $((limit * 1000)) ]
	kill "$SILENT" 2>/dev/null
fi
