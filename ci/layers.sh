#!/bin/sh
# The include graph of libtier/src, and the rule that no include runs back up
# a layer (docs/design.md).  Layers, bottom to top:
#   0 util      util/, tier/errors.h, tier/common.h
#   1 format    hashes, chunker, bounded object reads, packs, git packs (streamed too), snapshots
#   2 transport drivers, URLs, retry, locations (tier/location.h, tier/sys/driver.h)
#   3 log       one tier's git log and its local cache
#   4 vault     the handle, installation, refs, probe, init, write transaction (write.c, revision.c)
#   5 ops       push, restore, fsck, sync, history (tier/push.h ... tier.h)
#   6 drive     the virtual drive over browse (drive/, behind tier/drive.h)
# usage: ci/layers.sh [--graph]   --graph prints "file: includes" per file.
# Exit 1 when a file includes a header of a higher layer, or has no layer.
set -eu
cd "$(dirname "$0")/../libtier/src"
layer() {
	case $1 in
	util/* | tier/errors.h | tier/common.h) echo 0 ;;
	hash.* | chunker.* | objread.* | pack.* | pack_*.* | gitpack.* | gitpack_*.* | odb_pack.* | streampack.* | snapshot.* | snapshot_*.* | chunkmap.* | chunkidx*.* | statcache.* | crypto/*) echo 1 ;;
	driver/* | url.* | url_*.* | retry.* | location.* | packfetch.* | tier/location.h | tier/sys/driver.h) echo 2 ;;
	log.* | log_*.*) echo 3 ;;
	vault.* | vault_*.* | installation.* | tierref.* | probe.* | init.* | write.* | revision.* | odb_frozen.* | keys.* | keys_*.* | config.* | tier/config.h | tier/vault.h) echo 4 ;;
	push*.* | restore*.* | fsck*.* | sync*.* | history*.* | revpaths.* | browse*.* | hooks.* | exclude*.* | forget*.* | prune*.* | archive*.* | version.c | tier.h | tier/browse.h | tier/forget.h | tier/prune.h | tier/push.h | tier/restore.h | tier/fsck.h | tier/sync.h | tier/drive.h) echo 5 ;;
	drive/*) echo 6 ;;
	*) echo "" ;;
	esac
}
bad=0
for f in $(find . -name '*.[ch]' | sed 's|^\./||' | sort); do
	lf=$(layer "$f")
	if [ -z "$lf" ]; then
		echo "layers: $f has no layer (add it to ci/layers.sh and docs/design.md)"
		bad=1
		continue
	fi
	incs=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | tr '\n' ' ')
	[ "${1:-}" = --graph ] && echo "[$lf] $f: $incs"
	for i in $incs; do
		li=$(layer "$i")
		if [ -z "$li" ]; then
			echo "layers: $f includes $i, which has no layer"
			bad=1
		elif [ "$li" -gt "$lf" ]; then
			echo "layers: $f (layer $lf) includes $i (layer $li): an include up a layer"
			bad=1
		fi
	done
done
exit $bad
