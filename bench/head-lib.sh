# Shared by bench/run.sh and bench/remote.sh (sourced, not run): the tools
# of the repository's HEAD, built apart from the working tree.

# bench_build_head ROOT WORK: WORK/src holds HEAD's files (extracted again
# only when HEAD moved), WORK/build their RelWithDebInfo build; sets commit.
bench_build_head() {
	local root=$1 work=$2
	commit=$(git -C "$root" rev-parse HEAD)
	if [ "$(cat "$work/src/.commit" 2>/dev/null)" != "$commit" ]; then
		rm -rf "$work/src" "$work/build"
		mkdir -p "$work/src"
		git -C "$root" archive HEAD | tar -x -C "$work/src"
		echo "$commit" >"$work/src/.commit"
	fi
	cmake -S "$work/src" -B "$work/build" -DTIER_WERROR=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$work/build" -j2 >/dev/null
}
