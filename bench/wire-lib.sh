# Shared by bench/ftp-speed.sh and bench/s3-speed.sh (sourced, not run):
# the generated tree and its tar, and timing helpers.  Expects root, work,
# size and seed set, and a die() function.

# Generate $work/data (bench/gendata.py) and $work/data.tar once per size
# and seed; set data, tarball, src_bytes, tar_bytes, nfiles.
wire_data() {
	mkdir -p "$work"
	data=$work/data
	tarball=$work/data.tar
	if [ ! -f "$work/.data-$size-$seed" ]; then
		rm -rf "$data" "$tarball" "$work"/.data-*
		echo "generating $size (seed $seed) in $data"
		python3 "$root/bench/gendata.py" "$data" --size "$size" --seed "$seed" >/dev/null
		tar -cf "$tarball" -C "$work" data
		touch "$work/.data-$size-$seed"
	fi
	src_bytes=$(du -sb --apparent-size "$data" | cut -f1)
	tar_bytes=$(stat -c %s "$tarball")
	nfiles=$(find "$data" -type f | wc -l)
}

# milliseconds COMMAND... takes; its output goes to $work/last.out
timed() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$work/last.out" 2>&1 || {
		cat "$work/last.out" >&2
		die "failed: $*"
	}
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000000))"
}

# MB/s (10^6 bytes per second) of BYTES in MS milliseconds
mbps() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f", b / 1e6 / (ms / 1000) }'; }
