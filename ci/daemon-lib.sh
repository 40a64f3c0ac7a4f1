# Shared by ci/servers.sh and ci/ceph.sh (sourced, not run): daemons
# tracked by PID files in $run, ports on 127.0.0.1.

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
