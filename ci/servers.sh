#!/usr/bin/env bash
# Real FTP/FTPS (vsftpd) and SFTP (OpenSSH sshd) servers on loopback for the
# remote-tier tests.  Run as root (it creates two local users).
#
#   ci/servers.sh start            generate configs, create users, start both
#   ci/servers.sh stop             stop both (and their session processes),
#                                  once no test holds the servers' lock
#   ci/servers.sh env              shell exports for the tests:
#                                    eval "$(ci/servers.sh env)"
#   ci/servers.sh status           which servers run
#   ci/servers.sh kill ftp|sftp    SIGKILL a server and its sessions (an outage)
#   ci/servers.sh restart ftp|sftp start it again (after kill), wait for its port
#
# Everything lives in a run directory, default /tmp/tier-servers (override
# with TIER_SERVERS_DIR); configs are generated there from the templates in
# fixtures/servers/ on every start.  Ports: FTP 2121 (passive 30000-30019),
# SFTP 2222 (override with TIER_FTP_PORT, TIER_PASV_MIN, TIER_PASV_MAX,
# TIER_SFTP_PORT).  The daemons run in the foreground of their own session
# and are stopped by PID, never by name.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
self="$here/$(basename "${BASH_SOURCE[0]}")"
run=${TIER_SERVERS_DIR:-/tmp/tier-servers}
# shellcheck source=ci/daemon-lib.sh
. "$here/daemon-lib.sh"
ftp_port=${TIER_FTP_PORT:-2121}
pasv_min=${TIER_PASV_MIN:-30000}
pasv_max=${TIER_PASV_MAX:-30019}
sftp_port=${TIER_SFTP_PORT:-2222}
ftp_user=tierftp
ftp_pass=tierpass # a throw-away test account on loopback
sftp_user=tiersftp

die() {
	echo "servers: $*" >&2
	exit 1
}

port_of() {
	case $1 in
	ftp) echo "$ftp_port" ;;
	sftp) echo "$sftp_port" ;;
	*) die "unknown server '$1' (ftp or sftp)" ;;
	esac
}

# The process and all its descendants, children first.
tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
		tree "$c"
	done
	echo "$1"
}

# Session processes outlive their listener (they call setsid), so a stop or
# an outage kills the whole tree, children first.
kill_server() {
	local name=$1 sig=$2 pid pids
	pid=$(live_pid "$name")
	if [ -z "$pid" ]; then
		rm -f "$(pid_file "$name")"
		return 0
	fi
	pids=$(tree "$pid")
	# shellcheck disable=SC2086
	kill "-$sig" $pids 2>/dev/null || true
	# shellcheck disable=SC2086
	if ! wait_gone $pids; then
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		# shellcheck disable=SC2086
		wait_gone $pids || die "cannot stop $name (pid $pid)"
	fi
	rm -f "$(pid_file "$name")"
}

# Tests hold $run/tests.lock shared while they use the servers, outage
# tests (which kill one) exclusively.  A stop takes it exclusively first, so
# that a run ending elsewhere on the machine (its exit trap stops the
# servers) does not pull them from under tests still logging in: those see
# the connection drop mid-login.  kill and restart do not lock: outage tests
# call them while they hold the lock.
lock_tests() {
	local lock=$run/tests.lock fd
	[ -d "$run" ] && command -v flock >/dev/null || return 0
	exec {fd}>>"$lock"
	flock -x -w "${TIER_SERVERS_STOP_WAIT:-120}" "$fd" ||
		echo "servers: tests still hold $lock: stopping anyway" >&2
}

# Users and files that survive between runs; every step is idempotent.
prepare() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (creates users $ftp_user and $sftp_user)"
	for b in /usr/sbin/vsftpd /usr/sbin/sshd openssl ssh-keygen; do
		command -v "$b" >/dev/null || die "missing $b: run ci/install-deps.sh"
	done
	mkdir -p "$run" "$run/tls" "$run/ftp" "$run/ftp/empty" "$run/sftp"
	mkdir -p "$run/ftp/root/tiers" "$run/sftp/home" "$run/sftp/data" /run/sshd
	chmod 755 "$run" "$run/ftp" "$run/sftp"

	# vsftpd: a real login shell (pam_shells refuses nologin with 530)
	id -u "$ftp_user" >/dev/null 2>&1 ||
		useradd -M -d "$run/ftp/root" -s /bin/bash "$ftp_user"
	usermod -d "$run/ftp/root" "$ftp_user" >/dev/null 2>&1 || true
	echo "$ftp_user:$ftp_pass" | chpasswd
	chown -R "$ftp_user:" "$run/ftp/root"

	# sshd with UsePAM no refuses a locked account ("!"): "*" is unlocked
	# yet has no password
	id -u "$sftp_user" >/dev/null 2>&1 ||
		useradd -M -d "$run/sftp/home" -s /bin/bash "$sftp_user"
	usermod -d "$run/sftp/home" -p '*' "$sftp_user" >/dev/null 2>&1 || true
	chown -R "$sftp_user:" "$run/sftp/home" "$run/sftp/data"

	if [ ! -s "$run/tls/cert.pem" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
			-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			-keyout "$run/tls/key.pem" -out "$run/tls/cert.pem" 2>/dev/null
		chmod 600 "$run/tls/key.pem"
	fi
	# ed25519 only: libssh2 1.10 signs RSA keys with SHA-1, which sshd 9 refuses
	[ -s "$run/sftp/host_ed25519" ] ||
		ssh-keygen -q -t ed25519 -N '' -C tier-test-host -f "$run/sftp/host_ed25519"
	[ -s "$run/sftp/client_ed25519" ] ||
		ssh-keygen -q -t ed25519 -N '' -C tier-test-client -f "$run/sftp/client_ed25519"
	cp "$run/sftp/client_ed25519.pub" "$run/sftp/authorized_keys"
	chmod 644 "$run/sftp/authorized_keys"
	local key
	key=$(awk '{print $1, $2}' "$run/sftp/host_ed25519.pub")
	if [ "$sftp_port" = 22 ]; then
		echo "127.0.0.1 $key" >"$run/sftp/known_hosts"
	else
		echo "[127.0.0.1]:$sftp_port $key" >"$run/sftp/known_hosts"
	fi

	local tpl=$src/fixtures/servers
	sed -e "s|@RUN@|$run|g" -e "s|@FTP_PORT@|$ftp_port|g" \
		-e "s|@PASV_MIN@|$pasv_min|g" -e "s|@PASV_MAX@|$pasv_max|g" \
		"$tpl/vsftpd.conf.in" >"$run/ftp/vsftpd.conf"
	sed -e "s|@RUN@|$run|g" -e "s|@SFTP_PORT@|$sftp_port|g" \
		"$tpl/sshd_config.in" >"$run/sftp/sshd_config"
	/usr/sbin/sshd -t -f "$run/sftp/sshd_config" || die "bad sshd config $run/sftp/sshd_config"
}

# Start one server in the foreground of its own session, detached from
# the caller's descriptors (a test runner waiting on a pipe must not wait
# for the daemon), and wait for its port.
start_one() {
	local name=$1 port pid log
	port=$(port_of "$name")
	if [ -n "$(live_pid "$name")" ]; then
		echo "servers: $name already running (pid $(live_pid "$name"))"
		return 0
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port is taken by another process: cannot start $name"
	fi
	log="$run/$name/server.log"
	(
		for fd in "/proc/$BASHPID/fd/"*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		case $name in
		ftp) exec setsid /usr/sbin/vsftpd "$run/ftp/vsftpd.conf" ;;
		sftp) exec setsid /usr/sbin/sshd -D -e -f "$run/sftp/sshd_config" ;;
		esac
	) </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$(pid_file "$name")"
	if ! wait_port "$port"; then
		kill_server "$name" KILL
		die "$name did not open port $port (see $log)"
	fi
	[ -n "$(live_pid "$name")" ] || die "$name exited at start (see $log)"
	echo "servers: $name listening on 127.0.0.1:$port (pid $pid)"
}

q() { printf '%q' "$1"; }

print_env() {
	local hostkey
	hostkey=$(ssh-keygen -lf "$run/sftp/host_ed25519.pub" 2>/dev/null | awk '{print $2}' || true)
	[ -n "$(live_pid ftp)" ] || echo "servers: warning: ftp is not running" >&2
	[ -n "$(live_pid sftp)" ] || echo "servers: warning: sftp is not running" >&2
	echo "export TIER_SERVERS_DIR=$(q "$run")"
	echo "export TIER_TEST_FTP_URL=$(q "ftp://$ftp_user:$ftp_pass@127.0.0.1:$ftp_port/tiers")"
	echo "export TIER_TEST_FTPS_URL=$(q "ftps://$ftp_user:$ftp_pass@127.0.0.1:$ftp_port/tiers")"
	echo "export TIER_TEST_FTP_DIR=$(q "$run/ftp/root/tiers")"
	echo "export TIER_TEST_CACERT=$(q "$run/tls/cert.pem")"
	echo "export TIER_TEST_SFTP_URL=$(q "sftp://$sftp_user@127.0.0.1:$sftp_port$run/sftp/data?key=$run/sftp/client_ed25519&known_hosts=$run/sftp/known_hosts")"
	echo "export TIER_TEST_SFTP_DIR=$(q "$run/sftp/data")"
	echo "export TIER_TEST_SFTP_HOSTKEY=$(q "$hostkey")"
	echo "export TIER_TEST_FTP_KILL=$(q "$(q "$self") kill ftp")"
	echo "export TIER_TEST_FTP_RESTART=$(q "$(q "$self") restart ftp")"
	echo "export TIER_TEST_SFTP_KILL=$(q "$(q "$self") kill sftp")"
	echo "export TIER_TEST_SFTP_RESTART=$(q "$(q "$self") restart sftp")"
}

cmd=${1:-}
case $cmd in
start)
	prepare
	start_one ftp
	start_one sftp
	;;
stop)
	lock_tests
	kill_server ftp TERM
	kill_server sftp TERM
	echo "servers: stopped"
	;;
env)
	print_env
	;;
status)
	for s in ftp sftp; do
		p=$(live_pid $s)
		if [ -n "$p" ]; then echo "$s: running (pid $p)"; else echo "$s: stopped"; fi
	done
	;;
kill)
	[ $# -eq 2 ] || die "usage: ci/servers.sh kill ftp|sftp"
	port_of "$2" >/dev/null
	kill_server "$2" KILL
	;;
restart)
	[ $# -eq 2 ] || die "usage: ci/servers.sh restart ftp|sftp"
	port_of "$2" >/dev/null
	start_one "$2" >/dev/null
	;;
*)
	echo "usage: ci/servers.sh start|stop|env|status|kill ftp|sftp|restart ftp|sftp" >&2
	exit 2
	;;
esac
