# Helpers for the CLI scenarios, conformance/scenarios/*.sh (each one a ctest
# named cli.<script>; ctest sets TIER_TOOLS_DIR to the built tools).
#
#	#!/usr/bin/env bash
#	# R10: with the server tier away, a push lands on the local tier.
#	. "$(dirname "$0")/../lib.sh"
#
#	local_url=$(file_tier local)
#	run_tool tier-init -s state -t "local=$local_url"
#	expect_exit 0
#	run_tool tier-push -s state --json "$TT_TMP/home"
#	expect_exit 0
#	expect_json .revision 1
#	expect_stderr_no_match 'password'
#
# Every scenario runs in a fresh temporary directory (the working
# directory, $TT_TMP), removed at the end unless TT_KEEP=1.  Checks do not
# stop the script: every failure is listed, then the last line says
# "N passed, N failed" and the exit status is 1 if anything failed.  A
# script that exits non-zero by itself, or runs no check, fails too.
# Environment: TT_TIMEOUT (seconds per tool run, default 120), TT_KEEP.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "conformance/lib.sh needs bash" >&2
	exit 2
fi
set -u

TT_LIB=${BASH_SOURCE[0]}
TT_SCENARIO=$(basename "$0" .sh)
TT_TIMEOUT=${TT_TIMEOUT:-120}
if [ -z "${TIER_TOOLS_DIR:-}" ]; then
	# Run by hand from a checkout: use the release build.
	TIER_TOOLS_DIR=$(cd "$(dirname "$TT_LIB")/.." && pwd)/build/tools
fi
export TIER_TOOLS_DIR

TT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tier-cli-$TT_SCENARIO.XXXXXX") || exit 2
TT_RESULTS=$TT_TMP/.tt
mkdir -p "$TT_RESULTS" "$TT_TMP/home"
TT_RUNS=0
TT_CMD=
TT_EXIT=
TT_STDOUT=$TT_RESULTS/none.stdout
TT_STDERR=$TT_RESULTS/none.stderr
: >"$TT_STDOUT"
: >"$TT_STDERR"

# The tools must see nothing of the person or machine running the tests.
export HOME=$TT_TMP/home
export NO_COLOR=1 LC_ALL=C TZ=UTC
unset TIER_STATE_DIR
# SPEC 8: vaults are encrypted by default, so every scenario runs over an
# encrypted vault; TT_ENCRYPTION=none runs the suite over plaintext ones.
# Every tool finds the password here; a new vault gets a cheap KDF (1 MiB
# instead of 64) so that hundreds of tool runs stay fast.
export TIER_PASSWORD=${TIER_PASSWORD:-conformance-password}
unset TIER_PASSWORD_FILE
TT_ENCRYPTION=${TT_ENCRYPTION:-aes-256-gcm}
cd "$TT_TMP" || exit 2
# Messages go to fd 3, the script's stdout, even from inside $(...).
exec 3>&1

# Results go to files, not variables: checks made inside $(...) count too.
# One line per check, so that counting lines counts checks.
_tt_record() {
	printf '%s\n' "${2//$'\n'/ }" >>"$TT_RESULTS/$1"
}

_tt_count() {
	if [ -f "$TT_RESULTS/$1" ]; then
		wc -l <"$TT_RESULTS/$1" | tr -d ' '
	else
		echo 0
	fi
}

# "scenario.sh:42": the first caller outside this file.
_tt_where() {
	local i
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		# conf.sh (the conformance helpers) is a library too
		if [ "${BASH_SOURCE[$i]}" != "$TT_LIB" ] &&
			[ "${BASH_SOURCE[$i]}" != "${TT_CONF_LIB:-}" ]; then
			echo "$(basename "${BASH_SOURCE[$i]}"):${BASH_LINENO[$((i - 1))]}"
			return
		fi
	done
	echo "?"
}

_tt_show() {
	local what=$1 file=$2
	if [ -s "$file" ]; then
		echo "    $what:"
		head -c 2000 "$file" | sed 's/^/    | /'
	else
		echo "    $what: (empty)"
	fi
}

# pass MESSAGE: count a check that held.
pass() {
	_tt_record passed "$*"
	echo "ok    $*" >&3
}

# fail REASON: count a failed check, with where it was and the last run.
fail() {
	local where
	where=$(_tt_where)
	_tt_record failed "$where: $*"
	{
		echo "FAIL  $where: $*"
		if [ -n "$TT_CMD" ]; then
			echo "    last run: $TT_CMD (exit $TT_EXIT)"
			_tt_show stdout "$TT_STDOUT"
			_tt_show stderr "$TT_STDERR"
		fi
	} >&3
	return 0
}

# step TEXT: a heading in the output, to find one's way in a long scenario.
step() {
	echo "--- $*" >&3
}

# tt_init_args TOOL ARGS...: into TT_INIT_ARGS, what a tier-init that makes
# a new vault gets added (the suite's encryption, a cheap KDF); nothing
# when the scenario chose itself or the init joins a vault.
tt_init_args() {
	local tool=$1 a
	shift
	TT_INIT_ARGS=()
	[ "$tool" = tier-init ] || return 0
	for a in "$@"; do
		case $a in --adopt | --read-only | --encryption* | --kdf-memory* | -h | --help) return 0 ;; esac
	done
	if [ "$TT_ENCRYPTION" = none ]; then
		TT_INIT_ARGS=(--encryption none)
	else
		TT_INIT_ARGS=(--encryption "$TT_ENCRYPTION" --kdf-memory 1M)
	fi
}

# run_tool NAME ARGS...: run a built tool with stdin from /dev/null (or
# $TT_STDIN), capturing stdout, stderr and the exit status in TT_STDOUT,
# TT_STDERR (file names) and TT_EXIT.  A run longer than TT_TIMEOUT seconds
# is killed and fails the scenario.
run_tool() {
	local tool=$1 exe
	shift
	exe=$TIER_TOOLS_DIR/$tool
	TT_RUNS=$((TT_RUNS + 1))
	TT_CMD="$tool${*:+ $*}"
	TT_STDOUT=$TT_RESULTS/$TT_RUNS.stdout
	TT_STDERR=$TT_RESULTS/$TT_RUNS.stderr
	if [ ! -x "$exe" ]; then
		: >"$TT_STDOUT"
		echo "tool not built: $exe" >"$TT_STDERR"
		TT_EXIT=127
		fail "no tool '$tool' in $TIER_TOOLS_DIR"
		return 0
	fi
	TT_EXIT=0
	tt_init_args "$tool" "$@"
	set -- "${TT_INIT_ARGS[@]}" "$@"
	timeout -k 5 "$TT_TIMEOUT" "$exe" "$@" <"${TT_STDIN:-/dev/null}" \
		>"$TT_STDOUT" 2>"$TT_STDERR" || TT_EXIT=$?
	if [ "$TT_EXIT" -eq 124 ]; then
		fail "'$tool' still running after ${TT_TIMEOUT}s, killed"
	fi
	return 0
}

# Output of the last run.
last_stdout() { cat "$TT_STDOUT"; }
last_stderr() { cat "$TT_STDERR"; }

# expect_exit N: the last run exited with status N.
expect_exit() {
	if [ "$TT_EXIT" = "$1" ]; then
		pass "$TT_CMD: exit $1"
	else
		fail "expected exit $1, got $TT_EXIT"
	fi
}

_tt_match() {
	local stream=$1 file=$2 want=$3 re=$4
	if grep -Eq -- "$re" "$file"; then
		[ "$want" = yes ] && pass "$stream matches /$re/"
		[ "$want" = no ] && fail "$stream matches /$re/ and must not"
	else
		[ "$want" = yes ] && fail "$stream does not match /$re/"
		[ "$want" = no ] && pass "$stream does not match /$re/"
	fi
	return 0
}

# expect_stdout_match REGEX (grep -E, any line), and the others alike.
expect_stdout_match() { _tt_match stdout "$TT_STDOUT" yes "$1"; }
expect_stderr_match() { _tt_match stderr "$TT_STDERR" yes "$1"; }
expect_stdout_no_match() { _tt_match stdout "$TT_STDOUT" no "$1"; }
expect_stderr_no_match() { _tt_match stderr "$TT_STDERR" no "$1"; }

# expect_stdout_empty / expect_stderr_empty
expect_stdout_empty() {
	if [ -s "$TT_STDOUT" ]; then fail "stdout is not empty"; else pass "stdout empty"; fi
}
expect_stderr_empty() {
	if [ -s "$TT_STDERR" ]; then fail "stderr is not empty"; else pass "stderr empty"; fi
}

# expect_stderr_one_line: an error is exactly one line (SPEC section 6).
expect_stderr_one_line() {
	local n
	n=$(wc -l <"$TT_STDERR" | tr -d ' ')
	if [ "$n" = 1 ]; then
		pass "stderr is one line"
	else
		fail "stderr has $n lines, expected one"
	fi
}

# json_get FILTER: print a jq filter applied to the last stdout (raw
# strings, "null" when absent).  Fails the check if stdout is not JSON.
json_get() {
	local out
	if ! out=$(jq -r "$1" "$TT_STDOUT" 2>&1); then
		fail "json_get '$1': stdout is not JSON (jq: $(head -n 1 <<<"$out"))"
		return 1
	fi
	printf '%s\n' "$out"
}

# expect_json FILTER VALUE: json_get FILTER prints exactly VALUE.
expect_json() {
	local got
	got=$(json_get "$1") || return 0
	if [ "$got" = "$2" ]; then
		pass "json $1 = $2"
	else
		fail "json $1: expected '$2', got '$got'"
	fi
}

# expect_json_object: stdout is exactly one JSON object (the --json contract).
expect_json_object() {
	local n
	n=$(jq -s 'map(select(type == "object")) | length as $o | if length == 1 and $o == 1 then "ok" else "no" end' \
		"$TT_STDOUT" 2>/dev/null)
	if [ "$n" = '"ok"' ]; then
		pass "stdout is one JSON object"
	else
		fail "stdout is not exactly one JSON object"
	fi
}

# file_tier NAME: a fresh, empty directory tier under $TT_TMP/tiers; prints
# its file:// URL (use it as -t "NAME=$(file_tier NAME)").
file_tier() {
	mkdir -p "$TT_TMP/tiers/$1"
	echo "file://$TT_TMP/tiers/$1"
}

# skip REASON: the scenario does not apply here (e.g. a wrong password on a
# file:// tier); it ends at once with status 77 (ctest SKIP_RETURN_CODE)
# unless a check failed before.
skip() {
	TT_SKIP_REASON=$*
	echo "SKIP  $*" >&3
	exit 77
}

# tt_at_exit COMMAND: run COMMAND (eval'd) when the scenario ends, before the
# temporary directory goes (cleaning up storage outside $TT_TMP).
TT_AT_EXIT=()
tt_at_exit() { TT_AT_EXIT+=("$*"); }

# fixture_server SCRIPT ARGS...: run fixtures/servers/SCRIPT PORTFILE
# ARGS... with Debian's python3 (where python3-pyftpdlib is), stopped when
# the scenario ends; sets FIXTURE_PORT to the port it wrote.  Skips when
# pyftpdlib is not there.
fixture_server() {
	local py=/usr/bin/python3 script=$1 pf=$TT_TMP/${1%.py}.port pid
	shift
	"$py" -c 'import pyftpdlib' 2>/dev/null || skip "no python3-pyftpdlib"
	setsid "$py" "$TIER_SOURCE_DIR/fixtures/servers/$script" "$pf" "$@" \
		>"$TT_TMP/${script%.py}.log" 2>&1 &
	pid=$!
	tt_at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	if [ ! -s "$pf" ]; then
		cat "$TT_TMP/${script%.py}.log" >&2
		fail "the test server $script did not start"
		exit 1
	fi
	FIXTURE_PORT=$(cat "$pf")
}

_tt_finish() {
	local status=$? passed failed c
	trap - EXIT
	cd / || true
	for c in "${TT_AT_EXIT[@]}"; do
		eval "$c" || true
	done
	if [ -n "${TT_SKIP_REASON:-}" ] && [ "$(_tt_count failed)" -eq 0 ]; then
		[ "${TT_KEEP:-0}" = 1 ] && echo "kept $TT_TMP" || rm -rf "$TT_TMP"
		echo "skipped: $TT_SKIP_REASON"
		exit 77
	fi
	[ -n "${TT_SKIP_REASON:-}" ] && status=0
	if [ "$status" -ne 0 ]; then
		_tt_record failed "script stopped with status $status"
		echo "FAIL  $TT_SCENARIO stopped with status $status"
	fi
	passed=$(_tt_count passed)
	failed=$(_tt_count failed)
	if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
		_tt_record failed "no check ran"
		echo "FAIL  $TT_SCENARIO ran no check"
		failed=1
	fi
	if [ "$failed" -gt 0 ]; then
		echo "failed checks:"
		sed 's/^/  /' "$TT_RESULTS/failed"
	fi
	if [ "${TT_KEEP:-0}" = 1 ]; then
		echo "kept $TT_TMP"
	else
		rm -rf "$TT_TMP"
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}
trap _tt_finish EXIT
