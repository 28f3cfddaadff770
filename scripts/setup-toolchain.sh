#!/usr/bin/env bash
# Installs what kpoll needs to build a Rust-enabled 6.12 kernel and run it under QEMU.
# Idempotent: only missing pieces are installed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BINDGEN_VERSION=0.69.5
DEB_PACKAGES=(clang lld llvm libclang-dev flex bison bc libelf-dev libssl-dev cpio kmod
	xz-utils rsync qemu-system-x86 busybox-static memcached libmemcached-tools iproute2
	python3 linux-source-6.12 spin gcc)

tun=${KPOLL_TUN_DEVICE:-/dev/net/tun}
[ -c "$tun" ] || die "$tun is missing: the VM's network needs a tap device (load the tun module)"

missing=()
for p in "${DEB_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	[ "$(id -u)" = 0 ] || die "need root to install ${missing[*]}"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
		|| die "apt-get install failed for: ${missing[*]}"
fi

command -v rustup >/dev/null || die "rustup not found: install Rust with rustup first"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "adding rust-src"
	rustup component add rust-src >/dev/null 2>&1 || die "rustup component add rust-src failed"
fi
if ! bindgen --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
	log "installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked -q bindgen-cli --version "$BINDGEN_VERSION" \
		|| die "cargo install bindgen-cli failed"
fi

# The harness's type and lint checks (make test).
PY_TOOLS=(mypy==2.4.1 ruff==0.17.6)
if ! python3 -m mypy --version 2>/dev/null | grep -q "${PY_TOOLS[0]#mypy==}" ||
	! python3 -m ruff --version 2>/dev/null | grep -q "${PY_TOOLS[1]#ruff==}"; then
	log "installing ${PY_TOOLS[*]} (pip)"
	python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
		"${PY_TOOLS[@]}" >&2 || die "pip install ${PY_TOOLS[*]} failed"
fi

[ -f "$KPOLL_KERNEL_SOURCE" ] || die "kernel source $KPOLL_KERNEL_SOURCE missing"
"$KPOLL_ROOT/scripts/check-rust.sh"
