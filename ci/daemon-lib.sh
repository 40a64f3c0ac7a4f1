# shellcheck shell=bash disable=SC2154
# Shared by ci/servers.sh, ci/servers-extra.sh and ci/ceph.sh (sourced, not
# run): daemons tracked by PID files in $run, ports on 127.0.0.1.

pid_file() { echo "$run/$1.pid"; }

# PID of a running daemon, or nothing.  A zombie (reparented to a PID 1
# that reaps slowly) counts as gone.
live_pid() {
	local f pid st
	f=$(pid_file "$1")
	[ -r "$f" ] || return 0
	pid=$(cat "$f")
	st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
	case $st in
	'' | Z*) ;;
	*) echo "$pid" ;;
	esac
}

# Wait up to 10 s until none of the PIDs is alive (zombies are dead enough).
wait_gone() {
	local deadline=$((SECONDS + 10)) p st alive
	while :; do
		alive=0
		for p in "$@"; do
			st=$(ps -o stat= -p "$p" 2>/dev/null || true)
			case $st in '' | Z*) ;; *) alive=1 ;; esac
		done
		[ $alive = 0 ] && return 0
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.02
	done
}

# Wait up to LIMIT seconds (default 10) for PORT on 127.0.0.1 to accept.
wait_port() {
	local port=$1 deadline=$((SECONDS + ${2:-10}))
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.02
	done
}

# The process and all its descendants, children first.
pid_tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
		pid_tree "$c"
	done
	echo "$1"
}

# Stop daemon NAME and every process below it with signal SIG (sessions of
# FTP servers are its children), SIGKILL what is left after 10 s; forget its
# PID file.  Returns 1 when something would not die.
stop_tree() {
	local name=$1 sig=$2 pid pids
	pid=$(live_pid "$name")
	if [ -n "$pid" ]; then
		pids=$(pid_tree "$pid")
		# shellcheck disable=SC2086
		kill "-$sig" $pids 2>/dev/null || true
		# shellcheck disable=SC2086
		if ! wait_gone $pids; then
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
			# shellcheck disable=SC2086
			wait_gone $pids || return 1
		fi
	fi
	rm -f "$(pid_file "$name")"
}
