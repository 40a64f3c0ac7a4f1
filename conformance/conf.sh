# Conformance helpers, over lib.sh: the tier under test, its fault wrapper,
# a local tier beside it, a source tree, and checks on revisions and trees.
# Sourced by conformance/scenarios/R*.sh and bad-*.sh:
#
#	. "$(dirname "$0")/../conf.sh"
#	conf_init                      # vault on "server" (tier under test) + "local"
#	srv_fault offline              # take the server tier away (fault wrapper)
#	tool tier-push -s state "$SRC"
#	expect_exit 0
#
# The tier under test comes from the environment:
#   TIER_CONF_URL   its URL (file://, ftp://, ftps://, sftp://, s3://, or
#                   fault+URL?fault=CTL: CTL's lines then apply to every call,
#                   under the scenario's own faults). Default: a file:// tier
#                   in the scenario's temporary directory (TIER_CONF_KIND=
#                   fault+file wraps that one with a "delay 1" base fault).
#   TIER_CONF_DIR   optional: the local directory the URL's path is served
#                   from (a loopback server); enables git fsck of that tier
#                   and removal of what the scenario wrote there.
# Each run uses a fresh sub-directory conf-<scenario>-<time>-<pid> of the
# URL, so runs never collide; every destructive step goes through a fault+
# wrapper with a control file of the scenario's own, so the integrator's
# storage is never harmed.  file:// sub-directories are removed at the end.

TT_CONF_LIB=${BASH_SOURCE[0]}
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Fast retries for every tool run (SPEC R1: tests use ~1 ms).
CONF_OPTS=(--retries 3 --retry-delay 1)

# tool NAME ARGS...: run_tool with the fast retry options.
tool() {
	local t=$1
	shift
	run_tool "$t" "${CONF_OPTS[@]}" "$@"
}

# Quiet helper runs that are not checks (their output is not kept).
_conf_raw() {
	local t=$1
	shift
	tt_init_args "$t" "$@"
	timeout -k 5 "$TT_TIMEOUT" "$TIER_TOOLS_DIR/$t" "${TT_INIT_ARGS[@]}" "${CONF_OPTS[@]}" "$@" </dev/null
}

_conf_server() {
	local url=${TIER_CONF_URL:-} base query q p stamp
	CONF_BASE_FAULTS=
	if [ -z "$url" ]; then
		mkdir -p "$TT_TMP/server-root"
		case ${TIER_CONF_KIND:-file} in
		file) url="file://$TT_TMP/server-root" ;;
		fault+file)
			printf 'delay 1\n' >"$TT_TMP/base.ctl"
			url="fault+file://$TT_TMP/server-root?fault=$TT_TMP/base.ctl"
			;;
		*)
			echo "conf.sh: unknown TIER_CONF_KIND '$TIER_CONF_KIND'" >&2
			exit 2
			;;
		esac
	fi
	CONF_URL=$url
	if [ "${url#fault+}" != "$url" ]; then
		# Our faults go into a control file of our own; the integrator's
		# lines stay in force beneath them.
		url=${url#fault+}
		base=${url%%\?*}
		query=${url#"$base"}
		query=${query#\?}
		q=
		local IFS='&'
		for p in $query; do
			case $p in
			fault=*) CONF_BASE_FAULTS=${p#fault=} ;;
			*) q=${q:+$q&}$p ;;
			esac
		done
		unset IFS
		url=$base${q:+?$q}
	fi
	CONF_SCHEME=${url%%://*}
	base=${url%%\?*}
	query=${url#"$base"}
	stamp=$(date +%s)-$$
	CONF_PREFIX=conf-$TT_SCENARIO-$stamp
	base=${base%/}/$CONF_PREFIX
	SRV_PLAIN=$base$query
	SRV_CTL=$TT_TMP/server.ctl
	if [ -n "$query" ]; then
		SRV="fault+$base$query&fault=$SRV_CTL"
	else
		SRV="fault+$base?fault=$SRV_CTL"
	fi
	srv_ok
	SRV_DIR=
	if [ "$CONF_SCHEME" = file ]; then
		SRV_DIR=${base#file://}
		SRV_DIR=${SRV_DIR#localhost}
		# only what this run created
		tt_at_exit "rm -rf '$SRV_DIR'"
	elif [ -n "${TIER_CONF_DIR:-}" ]; then
		SRV_DIR=${TIER_CONF_DIR%/}/$CONF_PREFIX
		# tier-init creates no remote tier root: make it, owned like its parent
		mkdir -p "$SRV_DIR" && chown --reference="$TIER_CONF_DIR" "$SRV_DIR" 2>/dev/null
		tt_at_exit "rm -rf '$SRV_DIR'"
	fi
}

# srv_fault LINE...: the server tier's faults from now on (control file
# replaced atomically; the integrator's base faults stay first).
srv_fault() {
	{
		[ -n "$CONF_BASE_FAULTS" ] && [ -r "$CONF_BASE_FAULTS" ] && cat "$CONF_BASE_FAULTS"
		local l
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$SRV_CTL.new"
	mv -f "$SRV_CTL.new" "$SRV_CTL"
}

# srv_ok: no fault of ours on the server tier.
srv_ok() { srv_fault; }

# conf_src: a small source tree $SRC (text, binary, empty file, symlink,
# sub-directories) of ~0.4 MB.
conf_src() {
	SRC=$TT_TMP/src
	mkdir -p "$SRC/sub/deeper" "$SRC/empty"
	printf 'alpha\n' >"$SRC/a.txt"
	printf 'beta\n' >"$SRC/sub/b.txt"
	head -c 300000 /dev/urandom >"$SRC/sub/random.bin"
	seq 1 20000 >"$SRC/sub/deeper/numbers.txt"
	: >"$SRC/zero"
	ln -s a.txt "$SRC/link"
}

# conf_init [local-first]: the source tree, a local file:// tier and a
# vault on [server, local] (or [local, server]) with state in ./state.
conf_init() {
	_conf_server
	conf_src
	LOCAL_DIR=$TT_TMP/tiers/local
	LOCAL=$(file_tier local)
	if [ "${1:-}" = local-first ]; then
		tool tier-init -s state -t "local=$LOCAL" -t "server=$SRV"
	else
		tool tier-init -s state -t "server=$SRV" -t "local=$LOCAL"
	fi
	expect_exit 0
	if [ "$TT_EXIT" != 0 ]; then
		# nothing further can hold: stop here with the reason above
		exit 1
	fi
	echo "      tier under test: ${SRV_PLAIN//:*@/:***@}" >&3
}

# status_get STATE JQ: tier-status --json on STATE, filtered (no check).
status_get() {
	_conf_raw tier-status -s "$1" --json 2>/dev/null | jq -r "$2" 2>/dev/null
}

# rev NAME [STATE]: the revision tier-status reports for tier NAME.
rev() {
	status_get "${2:-state}" ".tiers[] | select(.name == \"$1\") | .revision"
}

# expect_rev NAME N [STATE]
expect_rev() {
	local got
	got=$(rev "$1" "${3:-state}")
	if [ "$got" = "$2" ]; then
		pass "tier '$1' at revision $2"
	else
		fail "tier '$1': expected revision $2, tier-status says '${got:-nothing}'"
	fi
}

# expect_synced NAME [STATE]: online and synchronised.
expect_synced() {
	local got
	got=$(status_get "${2:-state}" ".tiers[] | select(.name == \"$1\") | \"\\(.online) \\(.synchronized)\"")
	if [ "$got" = "true true" ]; then
		pass "tier '$1' online and synchronised"
	else
		fail "tier '$1': expected online and synchronised, got (online synchronized) = '$got'"
	fi
}

# expect_push_result NAME RESULT: in the last tier-push --json.
expect_push_result() {
	expect_json ".tiers[] | select(.name == \"$1\") | .result" "$2"
}

# same_tree WANT GOT: contents, symlinks and modes agree.
same_tree() {
	if [ -d "$2" ] && diff -r --no-dereference "$1" "$2" >/dev/null &&
		[ "$(cd "$1" && find . -printf '%p %y %m\n' | sort)" = \
			"$(cd "$2" && find . -printf '%p %y %m\n' | sort)" ]; then
		pass "restored tree equals $1"
	else
		fail "restored tree $2 differs from $1"
	fi
}

# restore_check DEST WANT [ARGS...]: tier-restore ARGS into DEST (a new
# directory) exits 0 and DEST$SRC equals WANT (a copy of the source).
restore_check() {
	local dest=$1 want=$2
	shift 2
	tool tier-restore "$@" "$dest"
	expect_exit 0
	same_tree "$want" "$dest$SRC"
}

# snapshot NAME: copy $SRC to $TT_TMP/NAME (what a revision must restore).
snapshot() {
	rm -rf "${TT_TMP:?}/$1"
	cp -a "$SRC" "$TT_TMP/$1"
}

# git_fsck DIR NAME: stock git accepts the tier's log (git fsck --strict).
git_fsck() {
	local out
	if [ -z "$1" ]; then
		echo "      (no local view of tier '$2': git fsck of it skipped)" >&3
		return 0
	fi
	if out=$(git --git-dir="$1/log.git" fsck --strict 2>&1); then
		pass "git fsck --strict of tier '$2' log"
	else
		fail "git fsck --strict of tier '$2' log: $(head -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

# git_fsck_both: both tiers of conf_init.
git_fsck_both() {
	git_fsck "$LOCAL_DIR" local
	git_fsck "$SRV_DIR" server
}

# fsck_clean [STATE]: tier-fsck --read-data finds nothing (exit 0).
fsck_clean() {
	tool tier-fsck -s "${1:-state}" --read-data
	expect_exit 0
}

# calls OP: how many calls of OP the fault log ($TT_TMP/calls.log) holds.
calls() {
	if [ -f "$TT_TMP/calls.log" ]; then
		grep -c "^$1 " "$TT_TMP/calls.log" || true
	else
		echo 0
	fi
}

# check COND-TEXT COMMAND...: a check of one's own (COMMAND true -> pass).
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# remote: the tier under test is not file://.
remote() { [ "$CONF_SCHEME" != file ]; }

# expect_exit_in "N M ...": the last run exited with one of these statuses.
expect_exit_in() {
	local c
	for c in $1; do
		if [ "$TT_EXIT" = "$c" ]; then
			pass "$TT_CMD: exit $TT_EXIT (one of $1)"
			return 0
		fi
	done
	fail "expected exit in ($1), got $TT_EXIT"
}

# expect_error_one_line: stderr holds exactly one line that is not a warning.
expect_error_one_line() {
	local n
	n=$(grep -vc '^[a-z-]*: warning: ' "$TT_STDERR" || true)
	if [ "$n" = 1 ]; then
		pass "one error line on stderr"
	else
		fail "stderr has $n error lines (not warnings), expected one"
	fi
}
