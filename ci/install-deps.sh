#!/usr/bin/env bash
# Install what building and testing libtier needs, on Debian 12 (as root).
# Quick when everything is there already: apt is not run at all then.
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config git
	libgit2-dev libcurl4-openssl-dev liblz4-dev libssl-dev libjansson-dev zlib1g-dev
	# the virtual drive (tier-mount): FUSE 3 library and fusermount3
	libfuse3-dev fuse3
	# man pages: roff from docs/man/*.md (CMake), read with man
	go-md2man groff-base man-db
	# tests
	libcriterion-dev jq
	# the worked example of docs/hooks.md dumps a real database (cli.hooks-sqlite)
	sqlite3
	# retention keeps what restic keeps for the same policy (unit.test_forget_restic)
	restic
	# JSON Schema validation of every tool's --json (conformance/json-validate.py)
	python3 python3-jsonschema time
	# function lengths of the house rules (ci/structure.sh, unit.structure)
	universal-ctags
	# terminal tests under a pseudo-terminal (script)
	util-linux
	# fuzzing (ci/fuzz.sh): clang and its libFuzzer runtime (libclang_rt.fuzzer)
	clang libclang-rt-dev
	# test servers started by the tests (ftp, ftps, sftp) on loopback
	vsftpd openssh-server openssh-client curl socat openssl
	# more servers an integrator may bring (ci/servers-extra.sh); ProFTPD and
	# pure-ftpd conflict with vsftpd as packages: unpacked below instead, and
	# the libraries they link are installed here
	python3-pyftpdlib python3-openssl rclone
	libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3 libsodium23
)

# ProFTPD and pure-ftpd: their .debs downloaded into $debs and unpacked with
# dpkg -x under $opt (nothing is installed, nothing runs); ci/servers-extra.sh
# runs them from there.  Skipped when already unpacked.
debs=${TIER_CI_DEBS:-/var/cache/tier-ci/debs}
opt=${TIER_CI_OPT:-/opt/tier-ci}
unpacked=(
	"proftpd:usr/sbin/proftpd:proftpd-core"
	"pure-ftpd:usr/sbin/pure-ftpd:pure-ftpd"
)

unpack_servers() {
	local entry dir bin pkgs p f
	for entry in "${unpacked[@]}"; do
		IFS=: read -r dir bin pkgs <<<"$entry"
		[ -x "$opt/$dir/$bin" ] && [ -e "$opt/$dir/.unpacked" ] && continue
		echo "install-deps: unpacking $pkgs into $opt/$dir"
		mkdir -p "$debs"
		# apt's download runs as _apt: let it write there
		chown _apt: "$debs" 2>/dev/null || true
		for p in $pkgs; do
			if ! compgen -G "$debs/${p}_*.deb" >/dev/null; then
				(cd "$debs" && apt-get -o DPkg::Lock::Timeout=600 download "$p") ||
					{ echo "install-deps: cannot download $p" >&2; return 1; }
			fi
		done
		rm -rf "$opt/$dir.new"
		mkdir -p "$opt/$dir.new"
		for p in $pkgs; do
			for f in "$debs/${p}"_*.deb; do dpkg -x "$f" "$opt/$dir.new"; done
		done
		# every library the server links must be installed (packages above)
		if ldd "$opt/$dir.new/$bin" | grep 'not found' >&2; then
			echo "install-deps: $opt/$dir.new/$bin lacks the libraries above: add their packages" >&2
			return 1
		fi
		: >"$opt/$dir.new/.unpacked"
		rm -rf "${opt:?}/$dir"
		mv "$opt/$dir.new" "$opt/$dir"
	done
}

servers_unpacked() {
	local entry dir bin
	for entry in "${unpacked[@]}"; do
		IFS=: read -r dir bin _ <<<"$entry"
		[ -x "$opt/$dir/$bin" ] && [ -e "$opt/$dir/.unpacked" ] || return 1
	done
}

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ] && servers_unpacked; then
	echo "install-deps: all ${#packages[@]} packages already installed, ProFTPD and pure-ftpd unpacked in $opt"
	exit 0
fi
[ ${#missing[@]} -eq 0 ] || echo "install-deps: installing ${missing[*]}"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root to install packages" >&2
	exit 1
fi

# vsftpd and openssh-server would start their daemons on install: the
# tests start their own on loopback from a generated config, so forbid it.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
fi

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
	apt-get -o DPkg::Lock::Timeout=600 update
	apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
fi
if ! unpack_servers; then
	# the package lists may be older than the archive: once more, fresh
	apt-get -o DPkg::Lock::Timeout=600 update
	unpack_servers
fi
