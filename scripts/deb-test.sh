#!/usr/bin/env bash
# make deb-test: the packages of `make deb` (cached; this script builds no kernel) installed the
# way a server installs them, then the packaged kernel booted in the VM harness.
#
#  1. A Debian 12 chroot (debootstrap minbase, cached) gets linux-image and linux-headers from
#     the .debs, then kpoll-dkms and kpollctl with apt, which pulls dkms, gcc, make and
#     rustc-web from Debian; kpoll-dkms's postinst has DKMS build kpoll.ko against the installed
#     headers. The chroot has nothing else: no kernel tree, no rustup.
#  2. The guest boots /boot/vmlinuz-<release> of the linux-image package, with an initramfs of
#     the harness's userland plus virtio_net (and what it needs) from that package, the
#     DKMS-built kpoll.ko and kpollctl from its package (tests/deb_vm_test.py).
#  3. There: modprobe kpoll, `kpollctl enable --port 11211 --persist`, memcached under load with
#     kpoll off and on (RX IRQs/request, replies verified), and the persisted files applied as
#     at boot after a reload.
# Ends with "N passed, N failed". Needs root (chroot, network namespaces).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$KPOLL_ROOT/scripts/deb-lib.sh"

check_deb_flavour
[ "$(id -u)" = 0 ] || die "deb-test needs root (chroot, network namespaces)"
command -v debootstrap >/dev/null || {
	log "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null || die "apt-get install debootstrap failed"
}

out="$(deb_cache)/out/latest"
[ -f "$out/done" ] || die "no packages of $KPOLL_DEB_FLAVOUR in $(deb_cache)/out: run make deb first"
# shellcheck disable=SC1091
release=$(sed -n 's/^release=//p' "$out/build-info")
image=$(ls "$out"/linux-image-"$release"_*.deb)
headers=$(ls "$out"/linux-headers-"$release"_*.deb)
mapfile -t ours < <("$KPOLL_ROOT/scripts/deb-dkms.sh")
dkms_deb=${ours[0]}
kpollctl_deb=${ours[1]}

# The base chroot: Debian 12 minbase with the security suite (rustc-web lives there).
base="$KPOLL_CACHE/deb-chroot/bookworm-base"
mirror=${KPOLL_DEB_MIRROR:-http://deb.debian.org/debian}
if [ ! -f "$base/.ready" ]; then
	rm -rf "$base"
	mkdir -p "$base"
	log "debootstrap bookworm (minbase) into $base"
	nice -n 19 ionice -c3 debootstrap --variant=minbase bookworm "$base" "$mirror" >"$base.log" 2>&1 ||
		die "debootstrap failed; see $base.log"
	cat >"$base/etc/apt/sources.list" <<-SOURCES
	deb $mirror bookworm main
	deb $mirror bookworm-updates main
	deb http://deb.debian.org/debian-security bookworm-security main
	SOURCES
	touch "$base/.ready"
fi

work="$KPOLL_CACHE/deb-chroot/work"
archives="$KPOLL_CACHE/deb-chroot/apt-archives"
mounted=()
cleanup() {
	local m
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
	[ -n "${stage:-}" ] && rm -rf "$stage"
}
trap cleanup EXIT
rm -rf "$work"
log "copying the base chroot to $work"
cp -a "$base" "$work"
mkdir -p "$archives/partial" "$work/proc" "$work/var/cache/apt/archives" "$work/root/debs"
mount -t proc proc "$work/proc" && mounted+=("$work/proc")
mount --bind "$archives" "$work/var/cache/apt/archives" && mounted+=("$work/var/cache/apt/archives")
cp /etc/resolv.conf "$work/etc/resolv.conf"
cp "$image" "$headers" "$dkms_deb" "$kpollctl_deb" "$work/root/debs/"

in_chroot() { nice -n 19 ionice -c3 chroot "$work" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive HOME=/root LC_ALL=C.UTF-8 "$@"; }
log "apt-get update in the chroot"
in_chroot apt-get update -qq >"$work.apt.log" 2>&1 || die "apt-get update failed in the chroot; see $work.apt.log"
log "installing $(basename "$image") and $(basename "$headers") in the chroot"
in_chroot apt-get install -y -q --no-install-recommends "/root/debs/$(basename "$image")" \
	"/root/debs/$(basename "$headers")" >>"$work.apt.log" 2>&1 ||
	die "installing the kernel packages failed; see $work.apt.log"
log "installing $(basename "$dkms_deb") and $(basename "$kpollctl_deb") (DKMS builds kpoll.ko)"
start=$SECONDS
in_chroot apt-get install -y -q --no-install-recommends "/root/debs/$(basename "$dkms_deb")" \
	"/root/debs/$(basename "$kpollctl_deb")" >>"$work.apt.log" 2>&1 || {
	grep -E 'kpoll-dkms: error|Error!' "$work.apt.log" | head -5 >&2 || true
	cat "$work"/var/lib/dkms/kpoll/*/build/make.log 2>/dev/null | tail -20 >&2 || true
	die "installing kpoll-dkms failed; see $work.apt.log"
}
dkms_seconds=$((SECONDS - start))
# DKMS compresses the module as the kernel's modules are (Debian: CONFIG_MODULE_COMPRESS_XZ).
ko=$(ls "$work/lib/modules/$release/updates/dkms/"kpoll.ko{,.xz,.zst,.gz} 2>/dev/null | head -n1 || true)
[ -n "$ko" ] || die "DKMS did not install kpoll.ko for $release (see $work.apt.log)"
log "DKMS built and installed kpoll.ko for $release ($dkms_seconds s for the install, dependencies included)"
in_chroot dkms status >"$work.dkms-status" 2>&1 || true
in_chroot rustc --version >"$work.rustc" 2>&1 || true

# The guest: vmlinuz and virtio_net's modules from the package, kpoll.ko from DKMS.
stage=$(mktemp -d "$KPOLL_CACHE/deb-chroot/guest.XXXXXX")
mods="$stage/root/lib/modules/$release"
mkdir -p "$mods/kernel" "$mods/updates/dkms"
cp "$work/boot/vmlinuz-$release" "$stage/vmlinuz"
need=$(in_chroot modprobe -S "$release" --show-depends virtio_net | awk '$1 == "insmod" { print $2 }')
for m in $need; do
	mkdir -p "$stage/root$(dirname "$m")"
	cp "$work$m" "$stage/root$m"
done
cp "$ko" "$mods/updates/dkms/"
# The guest's busybox loads plain .ko files: decompress what the packages compressed.
find "$stage/root/lib/modules" -name '*.ko.xz' -exec xz -d {} +
find "$stage/root/lib/modules" -name '*.ko.gz' -exec gzip -d {} +
find "$stage/root/lib/modules" -name '*.ko.zst' -exec zstd -q -d --rm {} +
cp "$work/lib/modules/$release"/modules.{order,builtin,builtin.modinfo} "$mods/" 2>/dev/null || true
depmod -b "$stage/root" "$release"
cat >"$stage/init" <<-INIT
#!/bin/sh
# deb-test: load the NIC driver of the packaged kernel, then the harness's /init.
mount -t proc proc /proc 2>/dev/null
/bin/modprobe virtio_net || echo "deb-test-init: modprobe virtio_net failed"
umount /proc 2>/dev/null
exec /bin/sh /scripts/guest/kpoll-init
INIT
chmod +x "$stage/init"
cp "$work/usr/sbin/kpollctl" "$stage/kpollctl"
initrd=$(KPOLL_INITRAMFS_EXTRA="" "$KPOLL_ROOT/scripts/build-initramfs.sh" \
	"$KPOLL_ROOT/scripts/guest/init:/scripts/guest/kpoll-init" "$stage/init:/init" \
	"$stage/root/lib/modules:/lib/modules" "$stage/kpollctl:/usr/sbin/kpollctl")
kernel="$KPOLL_CACHE/deb-chroot/vmlinuz-$release"
cp "$stage/vmlinuz" "$kernel"
{
	echo "release=$release"
	echo "image=$(basename "$image")"
	echo "headers=$(basename "$headers")"
	echo "dkms=$(basename "$dkms_deb")"
	echo "dkms_install_seconds=$dkms_seconds"
	echo "chroot_rustc=$(cat "$work.rustc")"
	echo "dkms_status=$(tr '\n' ';' <"$work.dkms-status")"
} >"$KPOLL_CACHE/deb-chroot/last-run"
cleanup
mounted=()
stage=
# A distribution kernel initialises far more than the test kernels: give TCG time to boot it.
cd "$KPOLL_ROOT"
KPOLL_BOOT_TIMEOUT=${KPOLL_BOOT_TIMEOUT:-300} exec python3 -m tests.deb_vm_test "$kernel" "$initrd" "$release"
