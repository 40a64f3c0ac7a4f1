#!/usr/bin/env bash
# Remote tiers against the wire (issue 20): for each server, with curl
# moving the same bytes as the yardstick,
#   1. tier-restore -t URL DEST from the server tier alone (no installation,
#      no other tier) against one curl process downloading the tier's files
#      as stored on the server (curl -K: a config of url/output pairs, one
#      connection reused); the restore is checked with diff -r;
#      ratio curl / restore (target >= 0.80);
#   2. tier-push to a vault whose only tier is the server against curl -T
#      of a tar of the tree; ratio curl / push (target >= 0.80);
#   3. (ftp:// servers) tier-push to a local + FTP vault against a local
#      vault alone; ratio push(local+ftp) / push(local) (target <= 1.1),
#      with the CPU the whole machine spent in each (server included, from
#      /proc/stat): on N cores a push cannot take less than CPU / N;
#   4. tier-fsck --read-data -t URL must say "checked 1 of 1 tier".
# Also a restore of the same vault from a local file:// copy of the tier
# (the files curl downloaded): what lz4 and writing the files to this disk
# allow, the restore's ceiling on any wire.
#
#   bench/remote.sh --server NAME=URL [--tier-dir DIR] [--server ...]... | --all
#                   [--size 250M] [--files 13000] [--seed 3] [--runs 3]
#                   [--encrypted] [--build DIR | --head] [--workdir DIR] [--keep]
#
#   --server NAME=URL  an ftp:// or sftp:// tier root that exists (sftp: the
#                URL's key=, known_hosts= and hostkey= are given to curl too);
#                repeatable.  Each run works in URL/bench-remote-<pid> (made
#                with curl, as an operator would) and removes it at the end:
#                through --tier-dir DIR, the local directory URL's path is
#                served from (loopback servers), else over the protocol.
#   --all        every server of ci/servers.sh env (vsftpd, sshd) and
#                ci/servers-extra.sh env (pyftpd, proftpd, pureftpd, rclone)
#                that runs, with their directories
#   --size, --files, --seed  the tree: bench/gendata.py DIR --seed SEED
#                (mixed files, a few large ones) plus enough 2-8 KiB files
#                (fixed seed) for FILES files and about SIZE bytes in all
#   --runs N     rounds; the best time of each step is compared (the order
#                of the two sides of a ratio alternates between rounds)
#   --encrypted  an AES-256-GCM vault (password TIER_PASSWORD, default
#                bench-password); without it the vault is made with
#                --encryption none, to measure the wire
#   --build DIR  tools from DIR/tools (default build/, ci/build.sh release);
#                --head builds the committed HEAD (git archive) in WORKDIR
#
# The page cache is warmed before every timed command (the tree and tar for
# pushes and uploads, the server's copy of the tier through --tier-dir, and
# the local copy, for restores and downloads).  Restored trees are deleted
# only at the end: ext4 is slow to allocate inodes freed in the last minutes
# (docs/performance.md).  A shared lock on $TIER_SERVERS_DIR/tests.lock
# keeps outage tests from stopping the servers under the run.  Timings are
# whole commands, wall clock, in seconds; MB = 10^6 bytes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
size=250M
files=13000
seed=3
runs=3
work=/tmp/tier-remote-bench
build=
head=0
keep=0
encrypted=0
all=0
names=()
urls=()
dirs=()

usage() {
	sed -n '/^#   bench\/remote.sh/,/^#$/p' "$0" | sed 's/^# *//' >&2
	exit 2
}
die() {
	echo "remote-bench: $*" >&2
	exit 1
}
# a step that fails: the reason on stderr and in $w/why (for the table)
fail() {
	echo "remote-bench: $name: $*" >&2
	echo "$*" >"$w/why"
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--server)
		if [ $# -lt 2 ] || [[ $2 != ?*=*://* ]]; then die "--server NAME=URL"; fi
		names+=("${2%%=*}")
		urls+=("${2#*=}")
		dirs+=("")
		shift 2
		;;
	--tier-dir)
		if [ $# -lt 2 ] || [ ${#urls[@]} -eq 0 ]; then die "--tier-dir DIR must follow a --server"; fi
		dirs[${#urls[@]} - 1]=$2
		shift 2
		;;
	--all) all=1; shift ;;
	--size) size=${2:?}; shift 2 ;;
	--files) files=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--encrypted) encrypted=1; shift ;;
	--build) build=${2:?}; shift 2 ;;
	--head) head=1; shift ;;
	--workdir) work=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*) usage ;;
	esac
done

for b in curl jq python3 diff tar find flock; do
	command -v "$b" >/dev/null || die "needs $b"
done

# --all: the servers of ci/servers.sh and ci/servers-extra.sh that run
add_server() { # NAME URL DIR
	[ -n "$2" ] || return 0
	names+=("$1")
	urls+=("$2")
	dirs+=("$3")
}
if [ "$all" = 1 ]; then
	st=$(bash "$root/ci/servers.sh" status 2>/dev/null || true)
	eval "$(bash "$root/ci/servers.sh" env)"
	grep -q '^ftp: running' <<<"$st" && add_server vsftpd "${TIER_TEST_FTP_URL:-}" "${TIER_TEST_FTP_DIR:-}"
	grep -q '^sftp: running' <<<"$st" && add_server sshd "${TIER_TEST_SFTP_URL:-}" "${TIER_TEST_SFTP_DIR:-}"
	if [ -f "$root/ci/servers-extra.sh" ] && xenv=$(bash "$root/ci/servers-extra.sh" env 2>/dev/null); then
		eval "$xenv"
		st=$(bash "$root/ci/servers-extra.sh" status 2>/dev/null || true)
		for n in pyftpd proftpd pureftpd rclone; do
			u=TIER_X_${n^^}_URL d=TIER_X_${n^^}_DIR
			if grep -q "^$n: running" <<<"$st"; then
				add_server "$n" "${!u:-}" "${!d:-}"
			else
				echo "remote-bench: $n is not running (ci/servers-extra.sh start $n): skipped" >&2
			fi
		done
	else
		echo "remote-bench: ci/servers-extra.sh env does not work: only vsftpd and sshd" >&2
	fi
fi
[ ${#urls[@]} -gt 0 ] || die "no server: --server NAME=URL [--tier-dir DIR], or --all (ci/servers.sh start)"

# --- tools -------------------------------------------------------------------

mkdir -p "$work"
work=$(cd "$work" && pwd)
if [ "$head" = 1 ]; then
	echo "building HEAD $(git -C "$root" rev-parse --short=7 HEAD) in $work/build" >&2
	# shellcheck source=bench/head-lib.sh
	. "$root/bench/head-lib.sh"
	bench_build_head "$root" "$work"
	build=$work/build
	version="HEAD ${commit:0:7}"
else
	build=${build:-$root/build}
	[ -x "$build/tools/tier-push" ] || die "no tools in $build/tools (ci/build.sh release)"
	build=$(cd "$build" && pwd)
	cs=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null)
	version="$build from ${cs:-?}"
	if [ -n "$cs" ] && [ -f "$cs/.commit" ]; then
		version="$version at $(cut -c1-7 "$cs/.commit")"
	elif [ -n "$cs" ] && git -C "$cs" rev-parse HEAD >/dev/null 2>&1; then
		version="$version at $(git -C "$cs" rev-parse --short HEAD)"
		git -C "$cs" diff --quiet HEAD -- libtier tools 2>/dev/null ||
			version="$version + uncommitted changes"
	fi
fi
tools=$build/tools
for t in tier-init tier-push tier-restore tier-fsck; do
	[ -x "$tools/$t" ] || die "no $tools/$t"
done
opts=(--retry-delay 10ms)

# Nothing of the person running it (no ~/.netrc, ~/.curlrc, ~/.ssh);
# curl's sftp host keys go to a HOME of each server's own.
export HOME=$work/home
mkdir -p "$HOME"
unset TIER_STATE_DIR TIER_PASSWORD_FILE
export LC_ALL=C
if [ "$encrypted" = 1 ]; then
	export TIER_PASSWORD=${TIER_PASSWORD:-bench-password}
	init_opts=(--kdf-memory 1M)
	enc="aes-256-gcm (TIER_PASSWORD; encryption included in every tool time)"
else
	init_opts=(--encryption none)
	enc="none (tier-init --encryption none: the wire, not the cipher)"
fi


# --- the tree ------------------------------------------------------------------

# gendata.py for the large and medium files, then N small files of 2-8 KiB
# (fixed seed, 60% text, 40% random bytes, 250 to a directory) so that the
# tree has FILES files and about SIZE bytes.
data=$work/data
tarball=$work/data.tar
mark=$work/.data-$size-$files-$seed
if [ ! -f "$mark" ]; then
	rm -rf "$data" "$tarball" "$work"/.data-*
	total=$(numfmt --from=iec "$size")
	# gendata.py makes about 23 files a MB at this size: leave room for the
	# small files (5 KiB each on average)
	small=$(awk -v t="$total" -v f="$files" 'BEGIN {
		s = (f - 23.2 * t / 1e6) / (1 - 23.2 * 5120 / 1e6); if (s < 0) s = 0; printf "%d", s }')
	gen=$((total - small * 5120))
	echo "generating the tree in $data" >&2
	python3 "$root/bench/gendata.py" "$data/gen" --size "$gen" --seed "$seed" >/dev/null
	have=$(find "$data/gen" -type f | wc -l)
	python3 - "$data/small" "$((files - have))" "$seed" <<'EOF'
import os, random, sys
root, n, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random("bench-remote-small:" + seed)
words = ["".join(rng.choices("etaoinshrdlucmfwypvbgk", k=rng.randint(2, 10))) for _ in range(3000)]
for i in range(max(n, 0)):
    size = rng.randint(2048, 8192)
    if rng.random() < 0.6:
        out, have = [], 0
        while have < size:
            line = (" ".join(rng.choices(words, k=rng.randint(4, 14))) + "\n").encode()
            out.append(line)
            have += len(line)
        blob = b"".join(out)[:size]
    else:
        blob = rng.randbytes(size)
    d = os.path.join(root, "s%03d" % (i // 250))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.%s" % (i, "txt" if i % 5 < 3 else "bin")), "wb") as f:
        f.write(blob)
EOF
	tar -cf "$tarball" -C "$work" data
	touch "$mark"
fi
src_bytes=$(du -sb --apparent-size "$data" | cut -f1)
tar_bytes=$(stat -c %s "$tarball")
nfiles=$(find "$data" -type f | wc -l)

# --- helpers -------------------------------------------------------------------

# Read every file once so the timed command finds them in the page cache.
warm() {
	local d
	sync
	for d in "$@"; do
		[ -n "$d" ] && [ -e "$d" ] && find "$d" -type f -exec cat {} + >/dev/null
	done
	return 0
}


# shellcheck source=ci/url-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../ci/url-lib.sh"

# milliseconds COMMAND... takes; its output goes to $work/last.out
timed() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$work/last.out" 2>&1 </dev/null ||
		fail "$(redact "${*##*/}" | cut -c1-120): $(grep -v ': warning: ' "$work/last.out" | head -n 2 | tr '\n' ' ' | cut -c1-300)"
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000000))"
}

# CPU milliseconds the whole machine has spent busy (every process: the
# server's share of a push counts), from /proc/stat
hz=$(getconf CLK_TCK)
ncpu=$(nproc)
cpu_busy() { awk -v hz="$hz" '/^cpu / { printf "%d\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1000 / hz }' /proc/stat; }

# "ms cpu_ms" of COMMAND...: its time and the machine's busy CPU meanwhile
timed_cpu() {
	local c0 ms
	c0=$(cpu_busy)
	ms=$(timed "$@")
	echo "$ms $(($(cpu_busy) - c0))"
}

# MB/s (10^6 bytes per second) of BYTES in MS milliseconds
mbps() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f", b / 1e6 / (ms / 1000) }'; }

# seconds with two decimals, of milliseconds
sec() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# ", of it N.NN s stalled" when curl waited (ms $1)
stalled() { if [ "${1:-0}" -gt 0 ]; then echo " (of it $(sec "$1") s stalled)"; fi; }
# " (TEXT)" when the best raw time $1 and the best time less stalls $2 differ
net() { if [ "$1" != "$2" ]; then echo " ($3)"; fi; }
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }

# The server of the moment: scheme, base (URL without query), query, the
# run's directory on it (rbase, and rdir on the local disk when known),
# and curl's options for it (kopts; its HOME holds the sftp known_hosts).
set_server() { # URL DIR
	local url=$1 key kh hk
	base=${url%%\?*}
	base=${base%/}
	query=${url#"${url%%\?*}"}
	query=${query#\?}
	scheme=${base%%://*}
	sub=bench-remote-$$
	rbase=$base/$sub
	rdir=${2:+${2%/}/$sub}
	khome=$work/home-$idx
	mkdir -p "$khome/.ssh"
	kopts=()
	kconf=()
	case $scheme in
	ftp) ;;
	sftp)
		key=$(q_opt "$query" key)
		kh=$(q_opt "$query" known_hosts)
		hk=$(q_opt "$query" hostkey)
		if [ -n "$key" ]; then
			kopts+=(--key "$key")
			kconf+=("key = \"$key\"")
			if [ -r "$key.pub" ]; then
				kopts+=(--pubkey "$key.pub")
				kconf+=("pubkey = \"$key.pub\"")
			fi
		fi
		if [ -n "$hk" ]; then
			kopts+=(--hostpubsha256 "${hk#SHA256:}")
			kconf+=("hostpubsha256 = \"${hk#SHA256:}\"")
		fi
		# curl reads only ~/.ssh/known_hosts
		if [ -n "$kh" ]; then cp "$kh" "$khome/.ssh/known_hosts"; fi
		;;
	*) return 1 ;;
	esac
}
kurl() { HOME=$khome curl -sS "${kopts[@]}" "$@"; }
# the tier URL of directory $1 of the run, with the server's query
turl() { echo "$rbase/$1${query:+?$query}"; }
# the path of a URL for quote commands: absolute for sftp, from the login
# directory for ftp (curl sends them before it changes directory)
upath() {
	local p=${1#*://*/}
	if [ "$scheme" = sftp ]; then echo "/$p"; else echo "$p"; fi
}

# rmkdir NAME: make directory NAME of the run on the server.
rmkdir() {
	case $scheme in
	ftp) kurl --ftp-create-dirs -o /dev/null "$rbase/$1/" ;;
	sftp) kurl -Q "*mkdir $(upath "$rbase")" -Q "mkdir $(upath "$rbase/$1")" -o /dev/null "$base/" ;;
	esac
}

# rlist URL: every file below URL (a directory) over the protocol, as
# "SIZE PATH" lines, PATH relative to URL.
rlist() {
	local url=${1%/} pre=${2:-} line kind size name
	while IFS= read -r line; do
		line=${line%$'\r'}
		kind=${line:0:1}
		# ls -l: mode links owner group size month day time name
		read -r _ _ _ _ size _ _ _ name <<<"$line"
		case $name in "" | . | ..) continue ;; esac
		case $kind in
		d) rlist "$url/$name" "$pre$name/" ;;
		-) echo "$size $pre$name" ;;
		esac
	done < <(kurl "$url/")
}

# tier_files NAME: the files of the run's tier NAME, "SIZE PATH".
tier_files() {
	if [ -n "$rdir" ]; then
		(cd "$rdir/$1" && find . -type f -printf '%s %P\n')
	else
		rlist "$rbase/$1"
	fi
}

# tier_dirs NAME: the directories below the run's tier NAME.
tier_dirs() {
	if [ -n "$rdir" ]; then
		(cd "$rdir/$1" && find . -mindepth 1 -type d -printf '%P\n')
	else
		rlist_dirs "$rbase/$1"
	fi
}

# rremove NAME...: delete directories of the run on the server (the whole
# run when no NAME).
rremove() {
	local n q=() f d
	if [ -n "$rdir" ]; then
		if [ $# -eq 0 ]; then rm -rf "${rdir:?}"; else for n; do rm -rf "${rdir:?}/$n"; done; fi
		return 0
	fi
	[ $# -gt 0 ] || set -- ""
	for n; do
		local top=$rbase${n:+/$n}
		# files, then directories deepest first
		while read -r _ f; do
			case $scheme in
			ftp) q+=(-Q "DELE $(upath "$top/$f")") ;;
			sftp) q+=(-Q "rm $(upath "$top/$f")") ;;
			esac
		done < <(rlist "$top")
		while read -r d; do
			case $scheme in
			ftp) q+=(-Q "RMD $(upath "$top/$d")") ;;
			sftp) q+=(-Q "rmdir $(upath "$top/$d")") ;;
			esac
		done < <(rlist_dirs "$top" | sort -r)
		case $scheme in
		ftp) q+=(-Q "RMD $(upath "$top")") ;;
		sftp) q+=(-Q "rmdir $(upath "$top")") ;;
		esac
	done
	kurl "${q[@]}" -o /dev/null "$base/" || echo "remote-bench: could not remove all of $(redact "$rbase")" >&2
}
rlist_dirs() {
	local url=${1%/} pre=${2:-} line name
	while IFS= read -r line; do
		line=${line%$'\r'}
		read -r _ _ _ _ _ _ _ _ name <<<"$line"
		[ "${line:0:1}" = d ] || continue
		case $name in "" | . | ..) continue ;; esac
		echo "$pre$name"
		rlist_dirs "$url/$name" "$pre$name/"
	done < <(kurl "$url/")
}

# The curl tool of libcurl 7.88 now and then waits a whole second before it
# connects an FTP data connection (libtier's driver polls its own multi
# handle to avoid it: libtier/src/driver/curl_xfer.c).  On a reused control
# connection that wait is what time_connect measures: the milliseconds of
# the transfers in $work/last.out (curl -w '%{time_connect}') that waited
# more than half a second.
stalls() {
	awk '/^[0-9.]+$/ && $1 > 0.5 { s += $1 } END { printf "%d", s * 1000 }' "$work/last.out"
}

# the tier result of tier-push --json in $work/last.out
pushed() {
	local got
	got=$(jq -r '[.tiers[] | .result] | unique | join(",")' "$work/last.out" 2>/dev/null || true)
	[ "$got" = written ] || fail "push did not write every tier (results '${got:-no json}'): $(head -c 300 "$work/last.out")"
}

# --- the steps (milliseconds on stdout) -----------------------------------

# curl -T of the tar into a fresh directory of the run
step_upload() {
	local ms
	warm "$tarball"
	ms=$(timed kurl --ftp-create-dirs -w '%{time_connect}\n' -T "$tarball" "$rbase/up-$r/data.tar")
	rremove "up-$r"
	echo "$ms $(stalls)"
}

# tier-push to a vault whose only tier is the server (kept: restored next)
step_push() {
	local ms state=$w/state-p$r
	rmkdir "tier-$r" >/dev/null || fail "cannot make tier-$r on the server"
	"$tools/tier-init" "${opts[@]}" -q -s "$state" "${init_opts[@]}" \
		-t "server=$(turl "tier-$r")" </dev/null >"$w/init.out" 2>&1 ||
		fail "tier-init -t URL: $(head -n 2 "$w/init.out" | tr '\n' ' ')"
	warm "$data"
	ms=$(timed "$tools/tier-push" "${opts[@]}" -q --json -s "$state" "$data")
	pushed
	echo "$ms"
}

# tier-push to a local + server vault, or (step_local) a local one alone
step_both() {
	local ms state=$w/state-b$r
	rmkdir "both-$r" >/dev/null || fail "cannot make both-$r on the server"
	mkdir -p "$w/lb-$r"
	"$tools/tier-init" "${opts[@]}" -q -s "$state" "${init_opts[@]}" \
		-t "local=file://$w/lb-$r" -t "server=$(turl "both-$r")" </dev/null >"$w/init.out" 2>&1 ||
		fail "tier-init -t local -t URL: $(head -n 2 "$w/init.out" | tr '\n' ' ')"
	warm "$data"
	ms=$(timed_cpu "$tools/tier-push" "${opts[@]}" -q --json -s "$state" "$data")
	pushed
	rremove "both-$r"
	rm -rf "$w/lb-$r" "$state"
	echo "$ms"
}
step_local() {
	local ms state=$w/state-l$r
	mkdir -p "$w/ll-$r"
	"$tools/tier-init" "${opts[@]}" -q -s "$state" "${init_opts[@]}" \
		-t "local=file://$w/ll-$r" </dev/null >"$w/init.out" 2>&1 ||
		fail "tier-init -t local: $(head -n 2 "$w/init.out" | tr '\n' ' ')"
	warm "$data"
	ms=$(timed_cpu "$tools/tier-push" "${opts[@]}" -q --json -s "$state" "$data")
	pushed
	rm -rf "$w/ll-$r" "$state"
	echo "$ms"
}

# tier-restore from the server tier alone, checked with diff -r
step_restore() {
	local ms dest=$w/rs-$r
	warm "$rdir/tier-$r"
	ms=$(timed "$tools/tier-restore" "${opts[@]}" -q -t "$(turl "tier-$r")" "$dest")
	diff -r --no-dereference "$data" "$dest$data" >"$w/diff.out" 2>&1 ||
		fail "the restore from the server differs from the tree: $(head -n 3 "$w/diff.out")"
	echo "$ms"
}

# one curl process downloading every file of the tier (curl -K)
step_download() {
	local ms dl=$w/dl-$r cfg=$w/dl-$r.curlrc l f
	rm -rf "$dl"
	{
		echo "silent"
		echo "show-error"
		echo "fail"
		echo "create-dirs"
		printf '%s\n' 'write-out = "%{time_connect}\n"'
		for l in "${kconf[@]}"; do echo "$l"; done
		while read -r _ f; do
			echo "url = \"$rbase/tier-$r/$f\""
			echo "output = \"$dl/$f\""
		done <"$w/tier-$r.list"
	} >"$cfg"
	warm "$rdir/tier-$r"
	ms=$(timed env HOME="$khome" curl -K "$cfg")
	# and the empty directories (log.git/refs/tags ...): a whole copy
	(cd "$dl" && xargs -r mkdir -p <"$w/tier-$r.dirs")
	# the bytes as stored
	[ "$(cd "$dl" && find . -type f -printf '%s %P\n' | sort -k2)" = "$(sort -k2 "$w/tier-$r.list")" ] ||
		fail "curl's download of the tier differs from the listing"
	if [ -n "$rdir" ]; then
		diff -r "$rdir/tier-$r" "$dl" >"$w/diff.out" 2>&1 ||
			fail "curl's download differs from the tier: $(head -n 2 "$w/diff.out" | tr '\n' ' ')"
	fi
	echo "$ms $(stalls)"
}

# the same vault restored from a local file:// copy of the tier (curl's)
step_restore_local() {
	local ms dest=$w/rl-$r
	warm "$w/dl-$r"
	ms=$(timed "$tools/tier-restore" "${opts[@]}" -q -t "file://$w/dl-$r" "$dest")
	diff -r --no-dereference "$data" "$dest$data" >"$w/diff.out" 2>&1 ||
		fail "the restore from the local copy differs from the tree: $(head -n 3 "$w/diff.out")"
	echo "$ms"
}

# --- the run -----------------------------------------------------------------

if [ -n "${TIER_SERVERS_DIR:-}" ] && [ -d "$TIER_SERVERS_DIR" ]; then
	exec 9>>"$TIER_SERVERS_DIR/tests.lock"
	flock -s -w 1200 9 || die "cannot lock $TIER_SERVERS_DIR/tests.lock"
fi

cleanup_remote=()
cleaned=()
# shellcheck disable=SC2317 # run by the trap
finish() {
	local i
	for i in "${cleanup_remote[@]}"; do
		[ -z "${cleaned[$i]:-}" ] || continue
		if set_server "${urls[$i]}" "${dirs[$i]}" 2>/dev/null; then rremove 2>/dev/null || true; fi
	done
	if [ "$keep" = 1 ]; then
		echo "remote-bench: kept $work" >&2
	else
		# the tree and tools stay for the next run
		for i in "$work"/s-*; do [ -e "$i" ] && rm -rf "$i"; done
	fi
}
trap finish EXIT

psi() { awk '/^some/ { sub("total=", "", $5); print $5 }' /proc/pressure/cpu 2>/dev/null || echo 0; }
psi0=$(psi)
t_start=$(date +%s%N)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

echo "tools: $version"
echo "encryption: $enc"
echo "tree: $nfiles files, $src_bytes bytes (gendata.py --size, --seed $seed, + 2-8 KiB files); tar $tar_bytes bytes"
echo "runs: $runs, best of each step"
echo

rows=()
bad=0
refs=()
fscks=()
cpus=()
for idx in "${!urls[@]}"; do
	name=${names[$idx]}
	show=$(redact "${urls[$idx]}")
	w=$work/s-$idx-$name
	rm -rf "$w"
	mkdir -p "$w"
	if ! set_server "${urls[$idx]}" "${dirs[$idx]}"; then
		echo "$name: $show: not an ftp:// or sftp:// URL: skipped" >&2
		rows+=("| $name | not ftp:// or sftp:// | | | | | | | | | | | |")
		continue
	fi
	if ! rmkdir "probe" >"$w/mkdir.err" 2>&1; then
		echo "$name: cannot make $(redact "$rbase") with curl: $(head -c 300 "$w/mkdir.err")" >&2
		rows+=("| $name | cannot make the run's directory: $(head -c 120 "$w/mkdir.err" | tr '\n' ' ') | | | | | | | | | | | |")
		bad=1
		continue
	fi
	cleanup_remote+=("$idx")
	rremove probe
	echo "== $name: $show"
	b_up='' b_upn='' b_push='' b_both='' b_loc='' b_bocpu='' b_locpu='' b_rs='' b_dl='' b_dln='' b_rl=''
	failed=
	for ((r = 1; r <= runs; r++)); do
		# push and its yardstick, in turns
		if ((r % 2)); then
			up=$(step_upload) && p=$(step_push) || failed="push round $r: $(cat "$w/why" 2>/dev/null)"
		else
			p=$(step_push) && up=$(step_upload) || failed="push round $r: $(cat "$w/why" 2>/dev/null)"
		fi
		[ -z "$failed" ] || break
		tier_files "tier-$r" | sort -k2 >"$w/tier-$r.list"
		tier_dirs "tier-$r" >"$w/tier-$r.dirs"
		tbytes=$(awk '{ s += $1 } END { print s + 0 }' "$w/tier-$r.list")
		tcount=$(wc -l <"$w/tier-$r.list")
		if ((r % 2)); then
			rs=$(step_restore) && dl=$(step_download) || failed="restore round $r: $(cat "$w/why" 2>/dev/null)"
		else
			dl=$(step_download) && rs=$(step_restore) || failed="restore round $r: $(cat "$w/why" 2>/dev/null)"
		fi
		[ -z "$failed" ] || break
		rl=$(step_restore_local) || { failed="local restore round $r: $(cat "$w/why" 2>/dev/null)"; break; }
		read -r up up_st <<<"$up"
		read -r dl dl_st <<<"$dl"
		line="round $r: push $(sec "$p") s, curl -T $(sec "$up") s$(stalled "$up_st");"
		line="$line restore $(sec "$rs") s, curl -K $(sec "$dl") s$(stalled "$dl_st"), local restore $(sec "$rl") s"
		if [ "$scheme" = ftp ]; then
			if ((r % 2)); then
				bo=$(step_both) && lo=$(step_local) || failed="push local+ftp round $r: $(cat "$w/why" 2>/dev/null)"
			else
				lo=$(step_local) && bo=$(step_both) || failed="push local+ftp round $r: $(cat "$w/why" 2>/dev/null)"
			fi
			[ -z "$failed" ] || break
			read -r bo bo_cpu <<<"$bo"
			read -r lo lo_cpu <<<"$lo"
			line="$line; push local+ftp $(sec "$bo") s (CPU $(sec "$bo_cpu") s), local $(sec "$lo") s (CPU $(sec "$lo_cpu") s)"
			b_both=$(min "$b_both" "$bo")
			b_loc=$(min "$b_loc" "$lo")
			b_bocpu=$(min "$b_bocpu" "$bo_cpu")
			b_locpu=$(min "$b_locpu" "$lo_cpu")
		fi
		echo "  $line"
		b_up=$(min "$b_up" "$up")
		b_upn=$(min "$b_upn" "$((up - up_st))")
		b_dln=$(min "$b_dln" "$((dl - dl_st))")
		b_push=$(min "$b_push" "$p")
		b_rs=$(min "$b_rs" "$rs")
		b_dl=$(min "$b_dl" "$dl")
		b_rl=$(min "$b_rl" "$rl")
		if [ "$r" = 1 ]; then
			# 4. the server tier alone checks as one tier of one
			rc=0
			"$tools/tier-fsck" "${opts[@]}" --read-data -t "$(turl "tier-$r")" \
				</dev/null >"$w/fsck.out" 2>&1 || rc=$?
			fl=$(grep -m1 '^checked ' "$w/fsck.out" || true)
			echo "  tier-fsck --read-data -t URL: ${fl:-no summary line} (exit $rc)"
			if [ "$rc" = 0 ] && [[ $fl == "checked 1 of 1 tier"* ]]; then
				fsck="yes"
			else
				fsck="NO (exit $rc)"
				grep -v '^checked ' "$w/fsck.out" | head -n 3 | sed 's/^/    /'
			fi
			fscks+=("$name: ${fl:-no summary line} (exit $rc)")
		fi
		rremove "tier-$r"
		rm -rf "$w/dl-$r" "$w/state-p$r"
	done
	if [ -n "$failed" ]; then
		echo "  FAIL: $failed"
		rows+=("| $name | FAIL: $failed | | | | | | | | | | | |")
		bad=1
		continue
	fi
	rremove
	cleaned[idx]=1
	cr=$(ratio "$b_dl" "$b_rs")$(net "$b_dl" "$b_dln" "$(ratio "$b_dln" "$b_rs")")
	cp=$(ratio "$b_up" "$b_push")$(net "$b_up" "$b_upn" "$(ratio "$b_upn" "$b_push")")
	[ "$fsck" = yes ] || bad=1
	if [ -n "$b_both" ]; then
		bl="$(sec "$b_both") | $(sec "$b_loc") | $(ratio "$b_both" "$b_loc")"
		cpus+=("$name: local+ftp $(sec "$b_bocpu") CPU-s (floor on $ncpu cores $(sec "$((b_bocpu / ncpu))") s), local $(sec "$b_locpu") CPU-s (floor $(sec "$((b_locpu / ncpu))") s); the least local+ftp / local this machine allows: $(ratio "$((b_bocpu / ncpu))" "$b_loc")")
	else
		bl="- | - | -"
	fi
	rows+=("| $name | $(sec "$b_rs") | $(sec "$b_rl") | $(ratio "$b_rs" "$b_rl") | $(sec "$b_dl")$(net "$b_dl" "$b_dln" "$(sec "$b_dln")") | $cr | $(sec "$b_push") | $(sec "$b_up")$(net "$b_up" "$b_upn" "$(sec "$b_upn")") | $cp | $bl | $fsck |")
	refs+=("$name: restore from a local copy of its tier $(sec "$b_rl") s ($(mbps "$src_bytes" "$b_rl") MB/s); the tier: $tcount files, $tbytes bytes")
done

pressure=$(awk -v a="$psi0" -v b="$(psi)" -v t0="$t_start" -v t1="$(date +%s%N)" \
	'BEGIN { printf "%.0f", 100 * (b - a) / ((t1 - t0) / 1000) }')
echo
echo "best of $runs, seconds; ratios of the best times (restore, push: curl / tool, target >= 0.80; local+ftp / local, target <= 1.1)"
echo "(in brackets: curl's time less the 1 s waits of the curl tool before FTP data connections, and the ratio with it;"
echo " restore, local copy: the same vault from a file:// copy of the tier, what lz4 and writing the files here allow)"
echo
echo "| server | restore -t URL | restore, local copy | URL/local | curl -K | curl/restore | push | curl -T | curl/push | push local+ftp | push local | ratio | fsck 1 of 1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for l in "${rows[@]}"; do echo "$l"; done
echo
echo "what the disk allows (lz4 and writing $nfiles files here, no network):"
for l in "${refs[@]}"; do echo "  $l"; done
if [ ${#cpus[@]} -gt 0 ]; then
	echo "CPU of the pushes, the least of $runs (the whole machine, server included):"
	for l in "${cpus[@]}"; do echo "  $l"; done
fi
echo "tier-fsck --read-data -t URL:"
for l in "${fscks[@]}"; do echo "  $l"; done
echo "load average $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; cpu pressure over the run $pressure%"
exit "$bad"
