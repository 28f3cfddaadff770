# Shared by kpoll's scripts: paths, logging, and the cache layout.
# shellcheck shell=bash
KPOLL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KPOLL_CACHE=${KPOLL_CACHE:-$HOME/.cache/kpoll}
KPOLL_KERNEL_SOURCE=${KPOLL_KERNEL_SOURCE:-/usr/src/linux-source-6.12.tar.xz}
KPOLL_JOBS=${KPOLL_JOBS:-$(nproc)}
export KPOLL_ROOT KPOLL_CACHE

log() { printf '[kpoll] %s\n' "$*" >&2; }
die() { printf 'kpoll: error: %s\n' "$*" >&2; exit 1; }


# Kernel flavour: `release` (demo, benchmark), `debug` (tests: lockdep, RCU, atomic sleep,
# timer objects), `kasan` (tests of the memory-safety stage: KASAN alone, it is slow), `rt`
# (tests of the real-time stage: the debug checkers on PREEMPT_RT, as Debian's rt kernels) or
# `compare` (benchmark only: the release config, patches/ and then patches/compare/, our
# re-implementation of upstream 6.13's IRQ suspension; never the release kernel).
KPOLL_FLAVOUR=${KPOLL_FLAVOUR:-release}
case "$KPOLL_FLAVOUR" in
release | debug | kasan | rt | compare) ;;
*) die "KPOLL_FLAVOUR must be release, debug, kasan, rt or compare" ;;
esac
export KPOLL_FLAVOUR

# The config fragments of this flavour, merged in order onto tinyconfig.
config_fragments() {
	echo "$KPOLL_ROOT/config/guest.config"
	case "$KPOLL_FLAVOUR" in
	release | compare) ;;
	debug) printf '%s\n' "$KPOLL_ROOT"/config/{debug,preempt}.config ;;
	rt) printf '%s\n' "$KPOLL_ROOT"/config/{debug,rt}.config ;;
	*) echo "$KPOLL_ROOT/config/$KPOLL_FLAVOUR.config" ;;
	esac
}

# The compare flavour's patches, in the order they apply (after patches/*.patch).
compare_patches() {
	local p
	for p in "$KPOLL_ROOT"/patches/compare/*.patch; do
		[ -e "$p" ] && echo "$p"
	done
}

# prepare-kernel.sh without its compare-only blocks (lines from a '# >>> compare flavour only'
# marker to the next '# <<< compare flavour only'): what shapes the other flavours' kernels.
prepare_script_without_compare() {
	sed '/^[[:space:]]*# >>> compare flavour only/,/^[[:space:]]*# <<< compare flavour only/d' \
		"$KPOLL_ROOT"/scripts/prepare-kernel.sh
}

# Hash of everything that shapes the kernel image: source package, patches, config fragments.
# Only the compare flavour hashes patches/compare/ and prepare-kernel.sh's compare-only blocks,
# so that neither changes the release, debug or kasan keys (nor forces their rebuilds).
kernel_key() {
	{
		stat -c '%s %Y' "$KPOLL_KERNEL_SOURCE"
		echo "$KPOLL_FLAVOUR"
		cat "$KPOLL_ROOT"/patches/*.patch $(config_fragments)
		if [ "$KPOLL_FLAVOUR" = compare ]; then
			cat "$KPOLL_ROOT"/scripts/prepare-kernel.sh
			echo "== patches/compare"
			compare_patches | while read -r p; do echo "== $(basename "$p")"; cat "$p"; done
		else
			prepare_script_without_compare
		fi
	} | sha256sum | cut -c1-16
}

# The newest prepared and built kernel tree of flavour $1 other than the one at $2, if any.
newest_built_tree() {
	ls -td "$KPOLL_CACHE"/kernel-*/ 2>/dev/null | while read -r d; do
		[ -f "$d/prepared" ] && [ -f "$d/applied.patch" ] && ls "$d"/built-* >/dev/null 2>&1 &&
			[ "$(cat "$d/flavour" 2>/dev/null || echo release)" = "$1" ] &&
			[ "${d%/}" != "$2" ] && echo "${d%/}" && break
	done
}

# Hash of the Rust overlay (kernel-crate extensions); a change rebuilds incrementally.
overlay_key() {
	(cd "$KPOLL_ROOT" && find rust -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -c1-16
}

kernel_tree() { echo "$KPOLL_CACHE/kernel-$(kernel_key)/linux"; }

kmake() { make -s -C "$(kernel_tree)" LLVM=1 ARCH=x86_64 -j"$KPOLL_JOBS" "$@"; }

# Builds the external Rust module whose Kbuild and sources are the paths given (relative to the
# repository root; a `/./` in a path marks where its copy starts, as for `rsync -R`) in
# $KPOLL_CACHE/<out_name>-<flavour>, against the built kernel tree, and prints the path of <ko>
# (relative to that folder). The sources are copied first so that the clone stays free of build
# output; a rebuilt kernel crate starts the folder afresh. Warnings are errors.
build_external_module() {
	local out_name=$1 ko=$2
	shift 2
	local tree out kernel_stamp
	tree=$(kernel_tree)
	out="$KPOLL_CACHE/$out_name-$KPOLL_FLAVOUR"
	kernel_stamp="$(kernel_key)-$(overlay_key)"
	if [ "$(cat "$out/.kernel-stamp" 2>/dev/null)" != "$kernel_stamp" ]; then
		rm -rf "$out"
		mkdir -p "$out"
		echo "$kernel_stamp" >"$out/.kernel-stamp"
	fi
	(cd "$KPOLL_ROOT" && rsync -rcR --delete --exclude '*.o' --exclude '*.ko' --exclude '.*.cmd' \
		--exclude '*.mod*' --exclude 'modules.order' --exclude 'Module.symvers' "$@" "$out/")
	if ! make -C "$tree" LLVM=1 ARCH=x86_64 M="$out" -j"$KPOLL_JOBS" modules >"$out/build.log" 2>&1; then
		grep -E '^(error|warning)' -A8 "$out/build.log" | head -60 >&2 || true
		die "$ko build failed; full log: $out/build.log"
	fi
	if grep -q '^warning' "$out/build.log"; then
		grep -E '^warning' -A8 "$out/build.log" | head -40 >&2
		die "$ko built with warnings (treated as errors); full log: $out/build.log"
	fi
	echo "$out/$ko"
}
