#!/usr/bin/env bash
# More FTP and SFTP servers on loopback, the kinds an integrator may bring
# besides vsftpd and OpenSSH (ci/servers.sh): the conformance suite and
# ci/remote-restore.sh run against them in .ci/run.  Run as root.
#
#   ci/servers-extra.sh start [NAME...]   generate configs, start (default: all)
#   ci/servers-extra.sh stop [NAME...]    stop them and their sessions
#   ci/servers-extra.sh env               shell exports for the tests:
#                                           eval "$(ci/servers-extra.sh env)"
#   ci/servers-extra.sh status            which servers run
#
# NAME is one of
#   pyftpd    pyftpdlib 1.5.7 (python3-pyftpdlib)   ftp  2131, passive 31000-31099
#   proftpd   ProFTPD 1.3.8   (unpacked .deb)       ftp  2141, passive 31300-31399
#   pureftpd  pure-ftpd 1.0.50 (unpacked .deb)      ftp  2151, passive 31400-31499
#   rclone    rclone 1.60 serve sftp (rclone)       sftp 2232
# ProFTPD and pure-ftpd conflict with vsftpd as packages: ci/install-deps.sh
# unpacks their .debs with dpkg -x under /opt/tier-ci (override TIER_CI_OPT).
# Every server logs in user tierx, password tierxpass (a throw-away test
# account on loopback: a virtual user, no system account), and serves a
# directory of the run directory, default /tmp/tier-servers-extra (override
# TIER_SERVERS_EXTRA_DIR); configs are generated there on every start.  The
# tier root of each URL is "conf" below the server's root.  The servers run in
# the foreground of their own session, listen on 127.0.0.1 only and are
# stopped by PID, never by name.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
run=${TIER_SERVERS_EXTRA_DIR:-/tmp/tier-servers-extra}
opt=${TIER_CI_OPT:-/opt/tier-ci}
# shellcheck source=ci/daemon-lib.sh
. "$here/daemon-lib.sh"

all=(pyftpd proftpd pureftpd rclone)
user=tierx
pass=tierxpass # a throw-away test account on loopback
nobody_uid=65534
nobody_gid=65534
py=/usr/bin/python3 # Debian's: python3-pyftpdlib is not in a pyenv python
proftpd=$opt/proftpd/usr/sbin/proftpd
pureftpd=$opt/pure-ftpd/usr/sbin/pure-ftpd
purepw=$opt/pure-ftpd/usr/bin/pure-pw

die() {
	echo "servers-extra: $*" >&2
	exit 1
}

port_of() {
	case $1 in
	pyftpd) echo 2131 ;;
	proftpd) echo 2141 ;;
	pureftpd) echo 2151 ;;
	rclone) echo 2232 ;;
	*) die "unknown server '$1' (one of: ${all[*]})" ;;
	esac
}

# Passive port range "MIN MAX" of an FTP server.
pasv_of() {
	case $1 in
	pyftpd) echo 31000 31099 ;;
	proftpd) echo 31300 31399 ;;
	pureftpd) echo 31400 31499 ;;
	esac
}

# The directory a server serves as its root; the tier root is root/conf.
root_of() { echo "$run/$1/root"; }

need() {
	case $1 in
	pyftpd)
		"$py" -c 'import pyftpdlib' 2>/dev/null ||
			die "no pyftpdlib for $py: run ci/install-deps.sh (python3-pyftpdlib)"
		;;
	proftpd)
		[ -x "$proftpd" ] || die "no $proftpd: run ci/install-deps.sh (unpacks proftpd-core)"
		command -v openssl >/dev/null || die "missing openssl: run ci/install-deps.sh"
		;;
	pureftpd)
		if [ ! -x "$pureftpd" ] || [ ! -x "$purepw" ]; then
			die "no $pureftpd: run ci/install-deps.sh (unpacks pure-ftpd)"
		fi
		command -v openssl >/dev/null || die "missing openssl: run ci/install-deps.sh"
		;;
	rclone)
		command -v rclone >/dev/null || die "missing rclone: run ci/install-deps.sh"
		command -v ssh-keygen >/dev/null || die "missing ssh-keygen: run ci/install-deps.sh"
		;;
	esac
}

# The run directory of one server: its root with the tier root "conf", its
# credentials and config; idempotent.
prepare() {
	local name=$1 root port min max hash
	need "$name"
	root=$(root_of "$name")
	port=$(port_of "$name")
	mkdir -p "$run/$name" "$root/conf"
	chmod 755 "$run" "$run/$name"
	case $name in
	pyftpd) ;; # the command line says it all
	proftpd)
		# the session runs as the AuthUserFile's uid (nobody), jailed in root
		chown -R "$nobody_uid:$nobody_gid" "$root"
		hash=$(openssl passwd -1 "$pass")
		# ProFTPD refuses a world-readable AuthUserFile
		(
			umask 077
			echo "$user:$hash:$nobody_uid:$nobody_gid::$root:/bin/sh" >"$run/proftpd/passwd"
			echo "nogroup:x:$nobody_gid:" >"$run/proftpd/group"
		)
		read -r min max <<<"$(pasv_of proftpd)"
		sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" \
			-e "s|@PASV_MIN@|$min|g" -e "s|@PASV_MAX@|$max|g" \
			"$src/fixtures/servers/proftpd.conf.in" >"$run/proftpd/proftpd.conf"
		"$proftpd" -t -c "$run/proftpd/proftpd.conf" \
			>"$run/proftpd/configtest.log" 2>&1 ||
			die "bad ProFTPD config $run/proftpd/proftpd.conf: $(tail -n 1 "$run/proftpd/configtest.log")"
		;;
	pureftpd)
		chown -R "$nobody_uid:$nobody_gid" "$root"
		# A crypt(3) hash written by hand: pure-pw's own (argon2id) costs
		# ~4.5 s per login on this machine kind.  "/./" jails the user there.
		hash=$(openssl passwd -6 "$pass")
		(
			umask 077
			echo "$user:$hash:$nobody_uid:$nobody_gid::$root/./::::::::::::" >"$run/pureftpd/passwd"
		)
		rm -f "$run/pureftpd/pureftpd.pdb"
		"$purepw" mkdb "$run/pureftpd/pureftpd.pdb" -f "$run/pureftpd/passwd" ||
			die "pure-pw mkdb failed"
		;;
	rclone)
		[ -s "$run/rclone/host_ed25519" ] ||
			ssh-keygen -q -t ed25519 -N '' -C tier-x-host -f "$run/rclone/host_ed25519"
		echo "[127.0.0.1]:$port $(awk '{print $1, $2}' "$run/rclone/host_ed25519.pub")" \
			>"$run/rclone/known_hosts"
		# no config of the machine's, no ~/.ssh/authorized_keys of root's
		: >"$run/rclone/rclone.conf"
		: >"$run/rclone/authorized_keys"
		;;
	esac
}

# Start one server in the foreground of its own session, detached from the
# caller's descriptors, and wait for its port.
start_one() {
	local name=$1 port pid log root min max
	port=$(port_of "$name")
	if [ -n "$(live_pid "$name")" ]; then
		echo "servers-extra: $name already running (pid $(live_pid "$name"))"
		return 0
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port is taken by another process: cannot start $name"
	fi
	prepare "$name"
	root=$(root_of "$name")
	read -r min max <<<"$(pasv_of "$name")"
	log=$run/$name/server.log
	(
		for fd in "/proc/$BASHPID/fd/"*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		case $name in
		pyftpd)
			exec setsid "$py" -m pyftpdlib -i 127.0.0.1 -p "$port" -r "$min-$max" \
				-w -d "$root" -u "$user" -P "$pass"
			;;
		proftpd)
			exec setsid "$proftpd" -n -c "$run/proftpd/proftpd.conf"
			;;
		pureftpd)
			# -A jail everyone, -E no anonymous, -H no reverse DNS; room
			# for the connections of parallel runs
			exec setsid "$pureftpd" -S "127.0.0.1,$port" -p "$min:$max" \
				-l "puredb:$run/pureftpd/pureftpd.pdb" -A -E -H -c 200 -C 200 \
				-O "clf:$run/pureftpd/transfer.log"
			;;
		rclone)
			# --dir-cache-time 0: the suite makes each run's directory on the
			# local disk (--tier-dir); a cached listing would not show it
			exec setsid rclone serve sftp "$root" --config "$run/rclone/rclone.conf" \
				--addr "127.0.0.1:$port" --user "$user" --pass "$pass" \
				--key "$run/rclone/host_ed25519" \
				--authorized-keys "$run/rclone/authorized_keys" \
				--dir-cache-time 0s --poll-interval 0
			;;
		esac
	) </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$(pid_file "$name")"
	if ! wait_port "$port" 20; then
		stop_tree "$name" KILL || true
		die "$name did not open port $port (see $log)"
	fi
	[ -n "$(live_pid "$name")" ] || die "$name exited at start (see $log)"
	echo "servers-extra: $name listening on 127.0.0.1:$port (pid $pid)"
}

q() { printf '%q' "$1"; }

print_env() {
	local n v url
	echo "export TIER_SERVERS_EXTRA_DIR=$(q "$run")"
	echo "export TIER_X_SERVERS=$(q "${all[*]}")"
	for n in "${all[@]}"; do
		[ -n "$(live_pid "$n")" ] || echo "servers-extra: warning: $n is not running" >&2
		v=${n^^}
		case $n in
		rclone) url="sftp://$user:$pass@127.0.0.1:$(port_of "$n")/conf?known_hosts=$run/rclone/known_hosts" ;;
		*) url="ftp://$user:$pass@127.0.0.1:$(port_of "$n")/conf" ;;
		esac
		echo "export TIER_X_${v}_URL=$(q "$url")"
		echo "export TIER_X_${v}_DIR=$(q "$(root_of "$n")/conf")"
	done
}

# The servers named on the command line (default all) into $picked.
pick() {
	local n
	picked=("$@")
	[ $# -gt 0 ] || picked=("${all[@]}")
	for n in "${picked[@]}"; do port_of "$n" >/dev/null; done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start)
	[ "$(id -u)" -eq 0 ] || die "must run as root (the FTP servers switch to user nobody)"
	pick "$@"
	mkdir -p "$run"
	for n in "${picked[@]}"; do start_one "$n"; done
	;;
stop)
	pick "$@"
	for n in "${picked[@]}"; do
		stop_tree "$n" TERM || die "cannot stop $n"
	done
	echo "servers-extra: stopped"
	;;
env)
	print_env
	;;
status)
	for n in "${all[@]}"; do
		p=$(live_pid "$n")
		if [ -n "$p" ]; then echo "$n: running (pid $p)"; else echo "$n: stopped"; fi
	done
	;;
*)
	echo "usage: ci/servers-extra.sh start|stop [NAME...] | env | status  (NAME: ${all[*]})" >&2
	exit 2
	;;
esac
