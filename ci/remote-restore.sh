#!/usr/bin/env bash
# A restore from the server tier alone, per server: for each URL, a vault on
# a local file:// tier and a fresh directory below URL, one push of a
# generated tree (~2,000 files, ~40 MB: small files in nested directories,
# some of several MiB, an empty file and directory, a symlink), then
# `tier-restore -t URL` from the server tier alone (no installation, no
# local tier) must equal the tree byte for byte, and `tier-fsck --read-data
# -t URL` must check 1 of 1 tiers with no error.
#
#   ci/remote-restore.sh URL [--tier-dir DIR] [URL [--tier-dir DIR]]...
#
# URL is an ftp://, ftps:// or sftp:// tier root that exists; the run makes
# its own sub-directory restore-<time>-<pid>-<n> there with curl, over the
# protocol, as an operator would (sftp: the URL's known_hosts=, hostkey= and
# key= are used).  --tier-dir DIR, the local directory URL's path is served
# from (loopback servers), lets the run remove what it wrote.  Each server
# gets one line: "ok URL: push Ns, restore Ns, fsck Ns" or "FAIL URL: the
# reason"; exit 1 when one failed.  The vault is encrypted (password in
# TIER_PASSWORD, a cheap KDF); the tools come from TIER_TOOLS_DIR (default
# build/tools), retry fast (--retry-delay 10ms).  TIER_CACERT for ftps.
# TIER_REMOTE_RESTORE_KEEP=1 keeps the work directory.
set -euo pipefail

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${TIER_TOOLS_DIR:-$src_dir/build/tools}
opts=(--retry-delay 10ms)

die() {
	echo "remote-restore: $*" >&2
	exit 2
}

urls=()
dirs=()
while [ $# -gt 0 ]; do
	case $1 in
	--tier-dir)
		if [ $# -lt 2 ] || [ ${#urls[@]} -eq 0 ]; then
			die "--tier-dir DIR must follow a URL"
		fi
		dirs[${#urls[@]} - 1]=$2
		shift 2
		;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	-*) die "unknown option '$1' (see --help)" ;;
	*)
		urls+=("$1")
		dirs+=("")
		shift
		;;
	esac
done
[ ${#urls[@]} -gt 0 ] || die "usage: ci/remote-restore.sh URL [--tier-dir DIR]..."
[ -x "$tools/tier-push" ] || die "no built tools in '$tools' (ci/build.sh release)"
for b in curl jq python3 diff find; do
	command -v "$b" >/dev/null || die "needs $b"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tier-remote-restore.XXXXXX")
cleanup=()
finish() {
	local c
	for c in "${cleanup[@]}"; do rm -rf "$c"; done
	if [ "${TIER_REMOTE_RESTORE_KEEP:-0}" = 1 ]; then
		echo "remote-restore: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap finish EXIT
# Nothing of the person running it: no ~/.ssh, ~/.netrc or config.
export HOME=$work/home
mkdir -p "$HOME"
unset TIER_STATE_DIR TIER_PASSWORD_FILE
export TIER_PASSWORD=${TIER_PASSWORD:-remote-restore-password}
export LC_ALL=C

# Passwords never reach the output.

# The source tree: deterministic, ~2,000 files, ~40 MB.
gen_tree() {
	python3 - "$1" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random("remote-restore:1")
words = ["".join(rng.choices("etaoinshrdlucmfwyp", k=rng.randint(2, 9))) for _ in range(2000)]
def text(n):
    out, size = [], 0
    while size < n:
        line = (" ".join(rng.choices(words, k=rng.randint(3, 12))) + " %x\n" % rng.getrandbits(32)).encode()
        out.append(line)
        size += len(line)
    return b"".join(out)[:n]
def put(path, data):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
files = size = 0
# small files, 3 levels of directories
for i in range(1980):
    n = int(2 ** rng.uniform(9, 14.5))      # 512 B .. 23 KiB
    data = text(n) if rng.random() < 0.6 else rng.randbytes(n)
    put("tree/d%02d/e%d/f%d/file%04d.%s" % (i % 20, i % 7, i % 3, i, "txt" if i % 5 else "bin"), data)
    files += 1; size += n
# bigger files: random (incompressible), text, and one copy (deduplicated)
for j, mib in enumerate((2, 3, 4, 5, 6, 7)):
    n = mib * 1024 * 1024 + rng.randrange(0, 65536)
    data = rng.randbytes(n) if j % 2 == 0 else text(n)
    put("big/blob%d.%s" % (j, "bin" if j % 2 == 0 else "log"), data)
    files += 1; size += n
    if j == 3:
        put("big/copy-of-blob3.log", data)
        files += 1; size += n
put("deep/a/b/c/d/e/f/g/h/leaf.txt", text(777))
put("odd/name with spaces & %.txt", text(100))
put("odd/empty", b"")
files += 3; size += 877
os.makedirs(os.path.join(root, "odd/empty-dir"))
os.symlink("../big/blob1.log", os.path.join(root, "odd/link"))
print("%d files, %d bytes" % (files, size))
EOF
}

# shellcheck source=ci/url-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/url-lib.sh"

# mkroot BASE QUERY SUB: make BASE/SUB on the server with curl.
mkroot() {
	local base=$1 query=$2 sub=$3 scheme=${1%%://*}
	case $scheme in
	ftp) curl -sS --ftp-create-dirs -o /dev/null "${base%/}/$sub/" ;;
	# curl's ftps:// is implicit TLS; the tools' is explicit: ftp:// --ssl-reqd
	ftps)
		curl -sS --ssl-reqd ${TIER_CACERT:+--cacert "$TIER_CACERT"} --ftp-create-dirs \
			-o /dev/null "ftp://${base#ftps://}/$sub/"
		;;
	sftp)
		local key kh hk path args=()
		key=$(q_opt "$query" key)
		kh=$(q_opt "$query" known_hosts)
		hk=$(q_opt "$query" hostkey)
		[ -n "$key" ] && args+=(--key "$key")
		[ -n "$key" ] && [ -r "$key.pub" ] && args+=(--pubkey "$key.pub")
		[ -n "$hk" ] && args+=(--hostpubsha256 "${hk#SHA256:}")
		# curl reads only ~/.ssh/known_hosts (HOME is ours)
		if [ -n "$kh" ]; then
			mkdir -p "$HOME/.ssh" && cp "$kh" "$HOME/.ssh/known_hosts"
		fi
		path=${base#sftp://*/}
		curl -sS "${args[@]}" -Q "mkdir /${path%/}/$sub" -o /dev/null "${base%/}/"
		;;
	*) echo "not an ftp://, ftps:// or sftp:// URL" ;;
	esac
}

# The first line of a tool's stderr that says why (not a warning), else the
# last one.
why() {
	local w
	w=$(grep -v ': warning: ' "$1" | head -n 1)
	[ -n "$w" ] || w=$(tail -n 1 "$1")
	echo "${w:0:300}"
}

# Microseconds, and the seconds since such a time (one decimal).
now() { echo "${EPOCHREALTIME/[.,]/}"; }
took() {
	local d=$((($(now) - $1) / 100000))
	echo "$((d / 10)).$((d % 10))"
}

# one N URL DIR: the whole check for one server; prints its line.
one() {
	local n=$1 url=$2 dir=$3 base query sub srv w show t0 t_push t_restore t_fsck got rc
	w=$work/$n
	mkdir -p "$w"
	show=$(redact "$url")
	base=${url%%\?*}
	query=${url#"$base"}
	query=${query#\?}
	sub=restore-$(date +%s)-$$-$n
	srv=${base%/}/$sub${query:+?$query}
	[ -n "$dir" ] && cleanup+=("${dir%/}/$sub")

	if ! mkroot "$base" "$query" "$sub" >"$w/mkroot.err" 2>&1; then
		echo "FAIL $show: cannot make the tier root $sub with curl: $(why "$w/mkroot.err")"
		return 1
	fi
	mkdir -p "$w/local"
	if ! "$tools/tier-init" "${opts[@]}" -q -s "$w/state" --kdf-memory 1M \
		-t "local=file://$w/local" -t "server=$srv" </dev/null >"$w/init.out" 2>"$w/init.err"; then
		echo "FAIL $show: tier-init: $(why "$w/init.err")"
		return 1
	fi

	t0=$(now)
	if ! "$tools/tier-push" "${opts[@]}" -q -s "$w/state" --json "$src" \
		</dev/null >"$w/push.json" 2>"$w/push.err"; then
		echo "FAIL $show: tier-push: $(why "$w/push.err")"
		return 1
	fi
	got=$(jq -r '.tiers[] | select(.name == "server") | .result' "$w/push.json" 2>/dev/null || true)
	if [ "$got" != written ]; then
		echo "FAIL $show: tier-push did not write the server tier (result '${got:-none}'): $(why "$w/push.err")"
		return 1
	fi
	t_push=$(took "$t0")

	t0=$(now)
	if ! "$tools/tier-restore" "${opts[@]}" -q -t "$srv" "$w/dest" \
		</dev/null >"$w/restore.out" 2>"$w/restore.err"; then
		echo "FAIL $show: tier-restore from the server alone: $(why "$w/restore.err")"
		return 1
	fi
	if ! diff -r --no-dereference "$src" "$w/dest$src" >"$w/diff.out" 2>&1; then
		echo "FAIL $show: the restore differs from the source: $(head -n 1 "$w/diff.out")"
		return 1
	fi
	if [ "$(cd "$src" && find . -printf '%p %y %m %s\n' | sort)" != \
		"$(cd "$w/dest$src" && find . -printf '%p %y %m %s\n' | sort)" ]; then
		echo "FAIL $show: the restore's entries, types or modes differ from the source"
		return 1
	fi
	t_restore=$(took "$t0")

	t0=$(now)
	rc=0
	"$tools/tier-fsck" "${opts[@]}" -q --read-data -t "$srv" --json \
		</dev/null >"$w/fsck.json" 2>"$w/fsck.err" || rc=$?
	got=$(jq -r '"\(.tiers_checked) \(.tiers | length) \(.errors) \(.tiers_offline | length)"' \
		"$w/fsck.json" 2>/dev/null || true)
	if [ "$rc $got" != "0 1 1 0 0" ]; then
		local problem
		problem=$(jq -r '[.problems[]?.message] | first // empty' "$w/fsck.json" 2>/dev/null || true)
		echo "FAIL $show: tier-fsck --read-data -t URL: exit $rc, (checked, tiers, errors, offline) = (${got:-no json}), expected exit 0, (1 1 0 0): ${problem:-$(why "$w/fsck.err")}"
		return 1
	fi
	t_fsck=$(took "$t0")
	echo "ok   $show: push ${t_push}s, restore ${t_restore}s, fsck --read-data ${t_fsck}s"
}

src=$work/src
echo "remote-restore: source $(gen_tree "$src") in $src; tools $tools"
failed=0
for i in "${!urls[@]}"; do
	one "$((i + 1))" "${urls[$i]}" "${dirs[$i]}" || failed=$((failed + 1))
done
if [ $failed -gt 0 ]; then
	echo "remote-restore: $failed of ${#urls[@]} servers failed"
	exit 1
fi
echo "remote-restore: all ${#urls[@]} servers restored equal from the server tier alone"
