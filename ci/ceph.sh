#!/usr/bin/env bash
# A single-node Ceph cluster with radosgw on loopback: a real S3 server for
# the s3:// tier tests (docs/s3.md).  Run as root.
#
#   ci/ceph.sh install        apt-get the Ceph packages if missing (idempotent)
#   ci/ceph.sh start          fresh cluster: mon, one memstore OSD, radosgw on
#                             127.0.0.1:7480, a user and a bucket (~15 s)
#   ci/ceph.sh stop           stop radosgw, the OSD and the mon (by PID)
#   ci/ceph.sh env            shell exports for the tests:
#                               eval "$(ci/ceph.sh env)"
#   ci/ceph.sh status         which daemons run
#   ci/ceph.sh kill-rgw       SIGKILL radosgw only (an outage; data is kept)
#   ci/ceph.sh restart-rgw    start radosgw again, wait until it answers
#
# Everything lives in a run directory, default /tmp/tier-ceph (override with
# TIER_CEPH_DIR); the config is generated there from fixtures/ceph/ on every
# start and the cluster is created afresh (memstore: the data lives in the
# OSD's memory and is lost when the OSD stops).  Ports: radosgw 7480
# (TIER_CEPH_RGW_PORT), mon 3300 and 6789, OSD from 6800-7300.  Memstore
# size: TIER_CEPH_MEM_BYTES, default 4 GiB (RAM is only used as data comes).
# The daemons run in the foreground of their own session and are stopped
# by PID, never by name.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
self="$here/$(basename "${BASH_SOURCE[0]}")"
run=${TIER_CEPH_DIR:-/tmp/tier-ceph}
# shellcheck source=ci/daemon-lib.sh
. "$here/daemon-lib.sh"
rgw_port=${TIER_CEPH_RGW_PORT:-7480}
mon_port=3300
mon_v1_port=6789
mem_bytes=${TIER_CEPH_MEM_BYTES:-4294967296}
bucket=tierbucket
region=us-east-1
# a throw-away test account on loopback, not a secret
access_key=TIERACCESSKEY
secret_key=TIERSECRETKEY0123456789
conf=$run/ceph.conf

die() {
	echo "ceph: $*" >&2
	exit 1
}

stop_one() {
	local name=$1 sig=$2 pid
	pid=$(live_pid "$name")
	if [ -n "$pid" ]; then
		kill "-$sig" "$pid" 2>/dev/null || true
		if ! wait_gone "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" || die "cannot stop $name (pid $pid)"
		fi
	fi
	rm -f "$(pid_file "$name")"
}

# Start a daemon in the foreground of its own session, detached from the
# caller's descriptors (a test runner waiting on a pipe must not wait for it).
spawn() {
	local name=$1
	shift
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec setsid "$@"
	) </dev/null >>"$run/log/$name.out" 2>&1 &
	echo $! >"$(pid_file "$name")"
}

s3curl() {
	curl -sS --aws-sigv4 "aws:amz:$region:s3" --user "$access_key:$secret_key" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

do_install() {
	local missing=0 b
	for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl; do
		command -v "$b" >/dev/null || missing=1
	done
	if [ $missing = 0 ]; then
		echo "ceph: packages already installed"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "must run as root to install packages"
	# package scripts must not start daemons on this machine
	[ -e /usr/sbin/policy-rc.d ] || {
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
	}
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
		--no-install-recommends ceph-mon ceph-osd radosgw ceph-common curl
}

start_rgw() {
	[ -n "$(live_pid rgw)" ] && return 0
	spawn rgw radosgw -c "$conf" -n client.rgw.a -f
	wait_port "$rgw_port" 60 || die "radosgw did not open port $rgw_port (see $run/log)"
	# the port opens before the gateway serves: wait for a real answer
	local deadline=$((SECONDS + 30))
	until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rgw_port/")" = 200 ]; do
		[ $SECONDS -ge $deadline ] && die "radosgw does not answer on port $rgw_port"
		sleep 0.05
	done
}

do_start() {
	local b fsid uuid id deadline
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	for b in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
		command -v "$b" >/dev/null || die "missing $b: run ci/ceph.sh install"
	done
	if [ -n "$(live_pid mon)$(live_pid osd)$(live_pid rgw)" ]; then
		echo "ceph: already running (ci/ceph.sh stop first for a fresh cluster)"
		return 0
	fi
	for p in "$rgw_port" "$mon_port" "$mon_v1_port"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			die "port $p is taken by another process: cannot start ceph"
		fi
	done
	rm -rf "$run"
	mkdir -p "$run"/{mon,osd,run,log,rgw}
	fsid=$(cat /proc/sys/kernel/random/uuid)
	sed -e "s|@RUN@|$run|g" -e "s|@FSID@|$fsid|g" -e "s|@RGW_PORT@|$rgw_port|g" \
		-e "s|@MON_PORT@|$mon_port|g" -e "s|@MON_V1_PORT@|$mon_v1_port|g" \
		-e "s|@MEM_BYTES@|$mem_bytes|g" \
		"$src/fixtures/ceph/ceph.conf.in" >"$conf"

	ceph-authtool --create-keyring "$run/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool "$run/keyring" --gen-key -n client.admin --cap mon 'allow *' \
		--cap osd 'allow *' --cap mgr 'allow *' >/dev/null
	monmaptool --create --fsid "$fsid" \
		--addv a "[v2:127.0.0.1:$mon_port,v1:127.0.0.1:$mon_v1_port]" "$run/monmap" >/dev/null
	ceph-mon -c "$conf" --mkfs -i a --monmap "$run/monmap" --keyring "$run/keyring"
	spawn mon ceph-mon -c "$conf" -i a -f
	wait_port "$mon_port" 20 || die "ceph-mon did not open port $mon_port (see $run/log)"

	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(ceph -c "$conf" osd new "$uuid")
	mkdir -p "$run/osd/ceph-$id"
	ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" 2>>"$run/log/osd-mkfs.out"
	spawn osd ceph-osd -c "$conf" -i "$id" -f
	deadline=$((SECONDS + 60))
	until ceph -c "$conf" osd stat 2>/dev/null | grep -q '1 up'; do
		[ -n "$(live_pid osd)" ] || die "ceph-osd exited at start (see $run/log)"
		[ $SECONDS -ge $deadline ] && die "the OSD did not come up (see $run/log)"
		sleep 0.2
	done

	start_rgw
	radosgw-admin -c "$conf" user create --uid=tier --display-name=tier \
		--access-key="$access_key" --secret-key="$secret_key" >/dev/null
	# a fresh user may take a moment to be visible to the gateway
	deadline=$((SECONDS + 30))
	until [ "$(s3curl -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$rgw_port/$bucket")" = 200 ]; do
		[ $SECONDS -ge $deadline ] && die "cannot create bucket $bucket"
		sleep 0.2
	done
	echo "ceph: radosgw on http://127.0.0.1:$rgw_port, bucket $bucket (mon $(live_pid mon), osd $(live_pid osd), rgw $(live_pid rgw))"
}

print_env() {
	local q
	q() { printf '%q' "$1"; }
	[ -n "$(live_pid rgw)" ] || echo "ceph: warning: radosgw is not running" >&2
	echo "export TIER_CEPH_DIR=$(q "$run")"
	echo "export TIER_TEST_S3_URL=$(q "s3://$bucket/tests?endpoint=http://127.0.0.1:$rgw_port&region=$region&style=path")"
	echo "export TIER_TEST_S3_ENDPOINT=$(q "http://127.0.0.1:$rgw_port")"
	echo "export AWS_ACCESS_KEY_ID=$(q "$access_key")"
	echo "export AWS_SECRET_ACCESS_KEY=$(q "$secret_key")"
	echo "export TIER_TEST_S3_KILL=$(q "$(q "$self") kill-rgw")"
	echo "export TIER_TEST_S3_RESTART=$(q "$(q "$self") restart-rgw")"
}

cmd=${1:-}
case $cmd in
install) do_install ;;
start) do_start ;;
stop)
	stop_one rgw TERM
	stop_one osd TERM
	stop_one mon TERM
	echo "ceph: stopped"
	;;
env) print_env ;;
status)
	for s in mon osd rgw; do
		p=$(live_pid $s)
		if [ -n "$p" ]; then echo "$s: running (pid $p)"; else echo "$s: stopped"; fi
	done
	;;
kill-rgw) stop_one rgw KILL ;;
restart-rgw)
	[ -n "$(live_pid osd)" ] || die "the cluster is not running: ci/ceph.sh start"
	start_rgw
	;;
*)
	echo "usage: ci/ceph.sh install|start|stop|env|status|kill-rgw|restart-rgw" >&2
	exit 2
	;;
esac
