#!/usr/bin/env bash
# Builds the guest initramfs into the cache and prints its path:
#   $KPOLL_CACHE/initramfs-<hash>.cpio.gz
# The hash covers the guest scripts, this script, the extra-file list and the extra files'
# contents, and the busybox/memcached/libc package versions; an existing image is reused.
#
# Usage: scripts/build-initramfs.sh [SRC:DEST ...]
#   Every SRC:DEST (also taken from $KPOLL_INITRAMFS_EXTRA, space-separated pairs) copies the
#   host file SRC to DEST in the image (DEST absolute; a directory SRC is copied recursively).
#   Dynamically linked ELF files get their shared libraries (ldd) copied too.
#
# Contents: /init (scripts/guest/init), /scripts/guest/agent.sh, static busybox with all applet
# symlinks in /bin (/sbin -> bin), /usr/bin/memcached + its libraries and the dynamic loader,
# /etc/{passwd,group,nsswitch.conf,hosts} with root, nobody/nogroup and kpolluser (uid/gid 1000).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

guest="$KPOLL_ROOT/scripts/guest"
self="$KPOLL_ROOT/scripts/build-initramfs.sh"

extras=("$@")
if [ -n "${KPOLL_INITRAMFS_EXTRA:-}" ]; then
	read -r -a env_extras <<<"$KPOLL_INITRAMFS_EXTRA"
	extras+=("${env_extras[@]}")
fi
for pair in ${extras[@]+"${extras[@]}"}; do
	case "$pair" in
	?*:/?*) ;;
	*) die "extra file '$pair' is not SRC:DEST with an absolute DEST" ;;
	esac
	[ -e "${pair%%:*}" ] || die "extra file ${pair%%:*} does not exist"
done

busybox=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
memcached=$(command -v memcached || echo /usr/bin/memcached)
[ -x "$memcached" ] || die "memcached not found (apt-get install memcached)"
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked; install busybox-static"
fi

# Hash of a file or directory tree (names, modes and contents).
content_hash() {
	if [ -d "$1" ]; then
		(cd "$1" && find . -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' f; do
			printf '%s %s\n' "$f" "$(stat -c %a "$f")"
			[ -f "$f" ] && sha256sum <"$f"
		done) | sha256sum
	else
		{ stat -L -c %a "$1"; sha256sum <"$1"; } | sha256sum
	fi
}

key=$(
	{
		echo "kpoll-initramfs v1"
		cat "$self"
		for f in "$guest"/*; do echo "== $f"; cat "$f"; done
		dpkg-query -W busybox-static memcached libc6 2>/dev/null || true
		sha256sum "$busybox" "$memcached"
		for pair in ${extras[@]+"${extras[@]}"}; do
			echo "extra $pair $(content_hash "${pair%%:*}")"
		done
	} | sha256sum | cut -c1-16
)
out="$KPOLL_CACHE/initramfs-$key.cpio.gz"
if [ -s "$out" ]; then
	touch "$out"
	echo "$out"
	exit 0
fi

mkdir -p "$KPOLL_CACHE"
stage=$(mktemp -d "$KPOLL_CACHE/initramfs-stage.XXXXXX")
trap 'rm -rf "$stage" "$out.tmp.$$"' EXIT

# Copy a host file to the same path in the image (following symlinks for the file itself).
copy_as() { # src dest
	mkdir -p "$stage$(dirname "$2")"
	rm -rf "${stage:?}$2"
	cp -L --preserve=mode "$1" "$stage$2"
}

# If $1 is a dynamically linked ELF, copy every library ldd resolves plus the loader.
copy_libs() {
	local f=$1 libs lib
	[ -f "$f" ] && [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || return 0
	libs=$(ldd "$f" 2>/dev/null) || return 0 # static, or not a program/library for this host
	while read -r lib; do
		[ -n "$lib" ] || continue
		[ -e "$stage$lib" ] || copy_as "$lib" "$lib"
	done < <(echo "$libs" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
	if echo "$libs" | grep -q 'not found'; then
		die "$f: missing libraries: $(echo "$libs" | grep 'not found' | tr -s ' \t' ' ')"
	fi
}

cd "$stage"
chmod 755 .
mkdir -p bin usr/bin usr/sbin dev proc sys tmp run root etc home/kpolluser scripts/guest var
ln -s ../run var/run
chmod 1777 tmp
chmod 700 root
ln -s bin sbin
# Mirror a merged-/usr host (/lib -> usr/lib) so libraries reached via both paths are stored once.
for d in lib lib64; do
	if [ -L "/$d" ]; then
		target=$(readlink "/$d")
		mkdir -p "usr/${target#usr/}"
		ln -s "usr/${target#usr/}" "$d"
	fi
done

cp "$busybox" bin/busybox
"$busybox" --list | while read -r applet; do
	[ "$applet" = busybox ] || ln -sf busybox "bin/$applet"
done

copy_as "$memcached" /usr/bin/memcached
copy_libs "$memcached"

install -m 0755 "$guest/init" init
install -m 0755 "$guest/agent.sh" scripts/guest/agent.sh

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
kpolluser:x:1000:1000:kpoll unprivileged test user:/home/kpolluser:/bin/sh
EOF
cat >etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
kpolluser:x:1000:
EOF
cat >etc/nsswitch.conf <<'EOF'
passwd: files
group: files
hosts: files
EOF
cat >etc/hosts <<'EOF'
127.0.0.1 localhost
10.213.0.2 kpoll-guest
10.213.0.1 kpoll-host
EOF
chown 1000:1000 home/kpolluser

# Device nodes for the kernel's initial console (devtmpfs is mounted by /init later).
mknod -m 600 dev/console c 5 1 2>/dev/null || true
mknod -m 666 dev/null c 1 3 2>/dev/null || true

for pair in ${extras[@]+"${extras[@]}"}; do
	src=${pair%%:*} dest=${pair#*:}
	if [ -d "$src" ]; then
		mkdir -p "$stage$dest"
		cp -a "$src/." "$stage$dest/"
		while IFS= read -r -d '' f; do copy_libs "$f"; done < <(find "$src" -type f -print0)
	else
		copy_as "$src" "$dest"
		copy_libs "$src"
	fi
done

find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --quiet --reproducible | gzip -6n >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
log "initramfs: $out ($(du -h "$out" | cut -f1))"

# Keep the cache small: drop images unused for a day, beyond the 10 newest.
find "$KPOLL_CACHE" -maxdepth 1 -name 'initramfs-*.cpio.gz' -printf '%T@ %p\n' | sort -rn |
	tail -n +11 | while read -r _ old; do
		if [ -n "$(find "$old" -mmin +1440)" ]; then rm -f "$old"; fi
	done
echo "$out"
