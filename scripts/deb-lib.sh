# Shared by the Debian packaging scripts (scripts/deb-*.sh): flavour, Debian's config, the
# rustc-web toolchain and the cache layout. Sourced after lib.sh.
# shellcheck shell=bash

# Debian flavour whose config the packaged kernel starts from. Only the two generic amd64
# flavours: `rt` changes the preemption model (not what kpoll is measured on).
KPOLL_DEB_FLAVOURS="cloud-amd64 amd64"
KPOLL_DEB_FLAVOUR=${KPOLL_DEB_FLAVOUR:-cloud-amd64}
KPOLL_DEB_CONFIG_DIR=${KPOLL_DEB_CONFIG_DIR:-/usr/src/linux-config-6.12}
# 1 keeps Debian's DWARF debug info and BTF (and adds a linux-image-...-dbg package).
KPOLL_DEB_DEBUG_INFO=${KPOLL_DEB_DEBUG_INFO:-0}

check_deb_flavour() {
	case " $KPOLL_DEB_FLAVOURS " in
	*" $KPOLL_DEB_FLAVOUR "*) ;;
	*) die "unsupported flavour '$KPOLL_DEB_FLAVOUR': choose one of: $KPOLL_DEB_FLAVOURS (make deb FLAVOUR=amd64)" ;;
	esac
	case "$KPOLL_DEB_DEBUG_INFO" in
	0 | 1) ;;
	*) die "KPOLL_DEB_DEBUG_INFO must be 0 or 1" ;;
	esac
}

# Debian's config of the flavour (package linux-config-6.12).
deb_config_file() { echo "$KPOLL_DEB_CONFIG_DIR/config.amd64_none_$KPOLL_DEB_FLAVOUR.xz"; }

check_deb_config() {
	local cfg
	cfg=$(deb_config_file)
	[ -f "$cfg" ] || die "Debian's kernel config $cfg is missing: install the package linux-config-6.12 (apt-get install linux-config-6.12)"
	[ -n "$(xz -dc "$cfg" 2>/dev/null | sed -n '1,5{/^# Linux\/x86 .* Kernel Configuration$/p}')" ] ||
		die "$cfg is not a kernel config (xz-compressed, from linux-config-6.12)"
}

# The packaged kernel and the DKMS build on a server must use the identical rustc build (a
# crate compiled by another rustc is rejected with E0514). Debian 12 ships a current rustc as
# `rustc-web` (with `rust-web-src`) in bookworm-security, so the kernel is built with that
# package's compiler: a server then builds kpoll from Debian packages alone. Its .debs are
# unpacked into the cache, not installed on the build host. KPOLL_DEB_RUSTC_VERSION pins a
# version; the default is apt's candidate.
deb_rustc_version() {
	if [ -n "${KPOLL_DEB_RUSTC_VERSION:-}" ]; then
		echo "$KPOLL_DEB_RUSTC_VERSION"
		return
	fi
	LC_ALL=C apt-cache policy rustc-web 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' ||
		die "apt knows no rustc-web: enable bookworm-security in /etc/apt/sources.list and run apt-get update"
}

deb_toolchain_dir() { echo "$KPOLL_CACHE/deb-toolchain/rustc-web-$(deb_rustc_version)"; }

# make variables for every kernel build of the packaging (kernel, Kconfig checks). GCC (no
# LLVM=1): Debian's own compiler, so nothing of Debian's config depends on the compiler choice
# (clang 14 lacks -mfunction-return=thunk-extern and would drop the RETHUNK, SRSO, UNRET, ITS
# and call-depth-tracking mitigations). bindgen comes from PATH (setup-toolchain.sh).
deb_make_vars() {
	local bin
	bin="$(deb_toolchain_dir)/bin"
	echo "RUSTC=$bin/rustc" "HOSTRUSTC=$bin/rustc" "RUSTDOC=$bin/rustdoc"
}

# Cache of one flavour: its own KPOLL_CACHE for prepare-kernel.sh (kernel-<key>/linux) and the
# built packages (out/).
deb_cache() { echo "$KPOLL_CACHE/deb-$KPOLL_DEB_FLAVOUR"; }
