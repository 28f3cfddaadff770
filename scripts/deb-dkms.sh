#!/usr/bin/env bash
# make deb, kpoll part: kpoll-dkms_<version>_all.deb (the module's source, Kbuild, dkms.conf and
# kpoll-dkms-build, which checks the headers and the compiler before building) and
# kpollctl_<version>_amd64.deb (the CLI, built with cargo). Prints the two paths.
#
# Usage: scripts/deb-dkms.sh [OUTDIR]   (default $KPOLL_CACHE/deb-kpoll)
#   KPOLL_DEB_NO_KPOLLCTL=1 makes only the DKMS package (no cargo build; used by the tests).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

outdir=${1:-$KPOLL_CACHE/deb-kpoll}
pkg="$KPOLL_ROOT/packaging/dkms"

# <Cargo.toml version>+git<UTC time of the newest commit that changed the module or this
# packaging>, so a newer clone makes a newer package; ".dirty" for uncommitted changes.
base=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$KPOLL_ROOT/Cargo.toml" | head -1)
[ -n "$base" ] || die "no version in $KPOLL_ROOT/Cargo.toml"
inputs=(src Kbuild packaging/dkms kpollctl scripts/deb-dkms.sh)
stamp=$(cd "$KPOLL_ROOT" && TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M -- "${inputs[@]}" 2>/dev/null || true)
dirty=$(cd "$KPOLL_ROOT" && git status --porcelain -- "${inputs[@]}" 2>/dev/null | head -1 || true)
version="$base${stamp:++git$stamp}${dirty:+.dirty}"

mkdir -p "$outdir"
stage=$(mktemp -d "$outdir/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Builds $stage/$1 into $outdir/$1_<version>_$2.deb (md5sums, root-owned files).
build_deb() { # name arch
	local root="$stage/$1" deb="$outdir/$1_${version}_$2.deb"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
		xargs -0 -r md5sum >DEBIAN/md5sums)
	sed -i "s/^Installed-Size: .*/Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)/" "$root/DEBIAN/control"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$deb.tmp" >/dev/null || die "dpkg-deb failed for $1"
	mv "$deb.tmp" "$deb"
	echo "$deb"
}

# kpoll-dkms: /usr/src/kpoll-<version>/{dkms.conf,kpoll-dkms-build,Kbuild,src/}.
root="$stage/kpoll-dkms"
src="$root/usr/src/kpoll-$version"
mkdir -p "$src" "$root/DEBIAN" "$root/usr/share/doc/kpoll-dkms"
cp "$KPOLL_ROOT/Kbuild" "$src/"
(cd "$KPOLL_ROOT" && find src -type f \( -name '*.rs' -o -name Kbuild \) -print0 |
	xargs -0 cp --parents -t "$src")
sed "s/@VERSION@/$version/g" "$pkg/dkms.conf.in" >"$src/dkms.conf"
install -m 0755 "$pkg/kpoll-dkms-build" "$src/kpoll-dkms-build"
install -m 0755 "$pkg/kpoll-dkms-build" "$root/DEBIAN/preinst"
for script in postinst prerm; do
	sed "s/@VERSION@/$version/g" "$pkg/$script" >"$root/DEBIAN/$script"
	chmod 0755 "$root/DEBIAN/$script"
done
cat >"$root/usr/share/doc/kpoll-dkms/copyright" <<'COPYRIGHT'
kpoll: kernel polling for Linux 6.12. License: GPL-2.0 (see /usr/share/common-licenses/GPL-2).
COPYRIGHT
# Pre-Depends: rustc-web, the compiler: the preinst (kpoll-dkms-build) compares it with the
# kernel's exact build, so it must be configured before kpoll-dkms is unpacked. libelf1 is for
# the headers package's objtool, which bindeb-pkg's linux-headers does not declare.
cat >"$root/DEBIAN/control" <<CONTROL
Package: kpoll-dkms
Version: $version
Architecture: all
Section: kernel
Priority: optional
Maintainer: kpoll make deb <kpoll@localhost>
Installed-Size: 0
Pre-Depends: rustc-web
Depends: dkms (>= 3.0), make, gcc, rustc-web, libelf1
Recommends: kpollctl
Description: kpoll kernel module, DKMS source
 kpoll keeps a NIC RX queue's IRQ masked and polls the queue from epoll_wait() while an
 application keeps finding work, and hands it back to IRQs when it goes idle.
 .
 DKMS builds the module for kernels built by kpoll's make deb (release *-kpoll-*), against
 their linux-headers package, with the rustc-web version that built the kernel.
CONTROL
build_deb kpoll-dkms all

[ "${KPOLL_DEB_NO_KPOLLCTL:-0}" = 1 ] && exit 0

# kpollctl: /usr/sbin/kpollctl. Built in the cache, not in the clone.
target="$KPOLL_CACHE/deb-cargo"
CARGO_TARGET_DIR="$target" cargo build -q --release --locked -p kpollctl \
	--manifest-path "$KPOLL_ROOT/Cargo.toml" >"$stage/cargo.log" 2>&1 ||
	die "cargo build -p kpollctl failed: $(tail -3 "$stage/cargo.log")"
root="$stage/kpollctl"
mkdir -p "$root/DEBIAN" "$root/usr/sbin" "$root/usr/share/doc/kpollctl"
install -m 0755 -s "$target/release/kpollctl" "$root/usr/sbin/kpollctl"
cp "$KPOLL_ROOT/kpollctl/README.md" "$root/usr/share/doc/kpollctl/README.md"
cp "$stage/kpoll-dkms/usr/share/doc/kpoll-dkms/copyright" "$root/usr/share/doc/kpollctl/"
deps=$(dpkg-shlibdeps -O -e"$root/usr/sbin/kpollctl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p') || true
cat >"$root/DEBIAN/control" <<CONTROL
Package: kpollctl
Version: $version
Architecture: amd64
Section: admin
Priority: optional
Maintainer: kpoll make deb <kpoll@localhost>
Installed-Size: 0
Depends: ${deps:-libc6}
Description: show and change kpoll's state
 kpollctl status/watch show kpoll's per-queue counters and RX IRQ rates; enable/disable/set
 change net.kpoll.*, and with --persist keep the change across reboots
 (/etc/sysctl.d/90-kpoll.conf, /etc/modules-load.d/kpoll.conf).
CONTROL
build_deb kpollctl amd64
