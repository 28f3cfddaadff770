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
# timer objects) or `kasan` (tests of the memory-safety stage: KASAN alone, it is slow).
KPOLL_FLAVOUR=${KPOLL_FLAVOUR:-release}
case "$KPOLL_FLAVOUR" in
release | debug | kasan) ;;
*) die "KPOLL_FLAVOUR must be release, debug or kasan" ;;
esac
export KPOLL_FLAVOUR

# The config fragments of this flavour, merged in order onto tinyconfig.
config_fragments() {
	echo "$KPOLL_ROOT/config/guest.config"
	if [ "$KPOLL_FLAVOUR" != release ]; then echo "$KPOLL_ROOT/config/$KPOLL_FLAVOUR.config"; fi
}

# Hash of everything that shapes the kernel image: source package, patches, config fragments.
kernel_key() {
	{
		stat -c '%s %Y' "$KPOLL_KERNEL_SOURCE"
		echo "$KPOLL_FLAVOUR"
		cat "$KPOLL_ROOT"/patches/*.patch $(config_fragments)
		cat "$KPOLL_ROOT"/scripts/prepare-kernel.sh
	} | sha256sum | cut -c1-16
}

# Hash of the Rust overlay (kernel-crate extensions); a change rebuilds incrementally.
overlay_key() {
	(cd "$KPOLL_ROOT" && find rust -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -c1-16
}

kernel_tree() { echo "$KPOLL_CACHE/kernel-$(kernel_key)/linux"; }

kmake() { make -s -C "$(kernel_tree)" LLVM=1 ARCH=x86_64 -j"$KPOLL_JOBS" "$@"; }
