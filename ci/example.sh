#!/usr/bin/env bash
# The built-in example: a vault on two local tiers, a backup, a tier that
# goes away and comes back, a sync, a restore that equals the source.
# Usage: ci/example.sh [WORKDIR]   (default: a fresh directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
T=$top/build/tools
[ -x "$T/tier-push" ] || ci/build.sh release >/dev/null
work=${1:-$(mktemp -d /tmp/tier-example.XXXXXX)}
mkdir -p "$work"
export TIER_STATE_DIR=$work/state
# The vault is encrypted (the default): its password, as cron would give it.
(umask 077 && echo "example-password-$RANDOM$RANDOM" >"$work/password")
export TIER_PASSWORD_FILE=$work/password
src=$top/libtier   # back up our own sources: real files, a few hundred of them

run() { echo "\$ $*" | sed "s|$T/||; s|$work|\$W|g; s| $top/| ./|g"; "$@"; }

echo "# W=$work; the vault's password is in \$W/password (TIER_PASSWORD_FILE)"
run "$T/tier-init" -t usb="file://$work/usb" -t nas="file://$work/nas"
run "$T/tier-push" "$src"
echo "# the nas goes away (an unmounted share); backups go on to the usb disk"
mv "$work/nas" "$work/nas.away"
echo "written while the nas was away" > "$work/extra.txt"
run "$T/tier-push" --retries 2 --retry-delay 10 "$src" "$work/extra.txt"
mv "$work/nas.away" "$work/nas"
run "$T/tier-status" || echo "(exit $?: the nas is behind)"
run "$T/tier-sync"
run "$T/tier-status"
run "$T/tier-log" --stat
echo "# restore the newest revision from the nas alone, without the installation"
run env -u TIER_STATE_DIR "$T/tier-restore" -t "file://$work/nas" "$work/restore"
run diff -r "$src" "$work/restore$src"
run diff "$work/extra.txt" "$work/restore$work/extra.txt"
echo "example: OK (restored bytes equal the source; files under $work)"
