#!/usr/bin/env bash
# Unpacks Debian's rustc-web, rust-web-src and the libraries they need (package .debs fetched
# with apt-get download) into the cache and prints the directory of the `rustc`/`rustdoc`
# wrappers. Nothing is installed on the build host. Reused when present.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$KPOLL_ROOT/scripts/deb-lib.sh"

version=$(deb_rustc_version)
dir=$(deb_toolchain_dir)
if [ -x "$dir/bin/rustc" ] && [ -f "$dir/ready" ]; then
	echo "$dir/bin"
	exit 0
fi

# libllvmNN, whatever rustc-web's libstd is linked against.
rm -rf "$dir"
mkdir -p "$dir/debs"
trap '[ -f "$dir/ready" ] || rm -rf "$dir"' EXIT
log "fetching rustc-web $version from Debian"
(cd "$dir/debs" && apt-get download -q "rustc-web=$version" "libstd-rust-web-dev=$version" \
	"rust-web-src=$version" >"$dir/download.log" 2>&1) ||
	die "apt-get download rustc-web=$version failed (see $dir/download.log)"
libstd=$(cd "$dir/debs" && dpkg-deb -f rustc-web_*.deb Depends | tr ',' '\n' |
	sed -n 's/^ *\(libstd-rust-web-dev\) .*/\1/p')
[ -n "$libstd" ] || die "unexpected rustc-web package (no libstd-rust-web-dev dependency)"
so=$(cd "$dir/debs" && dpkg-deb -f libstd-rust-web-dev_*.deb Depends | tr ',' '\n' |
	sed -n 's/^ *\(libstd-rust-web-[0-9.]*\) .*/\1/p' | head -1)
(cd "$dir/debs" && apt-get download -q "$so=$version" >>"$dir/download.log" 2>&1) ||
	die "apt-get download $so=$version failed (see $dir/download.log)"
llvm=$(cd "$dir/debs" && dpkg-deb -f "$so"_*.deb Depends | tr ',' '\n' | sed -n 's/^ *\(libllvm[0-9]*\).*/\1/p' | head -1)
if [ -n "$llvm" ]; then
	(cd "$dir/debs" && apt-get download -q "$llvm" >>"$dir/download.log" 2>&1) ||
		die "apt-get download $llvm failed (see $dir/download.log)"
fi
mkdir -p "$dir/root" "$dir/bin"
for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
for tool in rustc rustdoc; do
	cat >"$dir/bin/$tool" <<-WRAP
	#!/bin/sh
	# Debian's $tool $version, unpacked by scripts/deb-toolchain.sh.
	LD_LIBRARY_PATH="$dir/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/root/usr/bin/$tool" "\$@"
	WRAP
	chmod +x "$dir/bin/$tool"
done
"$dir/bin/rustc" --version >/dev/null 2>&1 || die "the unpacked rustc-web $version does not run (see $dir)"
[ -d "$("$dir/bin/rustc" --print sysroot)/lib/rustlib/src/rust/library" ] ||
	die "rust-web-src $version lacks library/ (see $dir/root)"
touch "$dir/ready"
echo "$dir/bin"
