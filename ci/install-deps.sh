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
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages already installed"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"

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
apt-get -o DPkg::Lock::Timeout=600 update
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
