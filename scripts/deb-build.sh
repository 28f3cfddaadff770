#!/usr/bin/env bash
# make deb, kernel part: Debian packages (linux-image, linux-headers) of the kpoll-patched 6.12
# kernel built from Debian's own config of KPOLL_DEB_FLAVOUR (cloud-amd64 by default, or amd64)
# with kpoll's changes merged on top (scripts/deb-config.sh), by the kernel's `make bindeb-pkg`.
# The packages are cached under $KPOLL_CACHE/deb-<flavour>/out/<key>/ (key: kernel source,
# patches, Rust overlay, packaging, Debian's config, rustc-web version); a cached set is reused.
# Prints the directory holding the .debs.
#
# The headers package also gets rust/*.rmeta and rust/*.so (packaging/kernel/headers-rust.patch,
# applied to the packaging tree only): an out-of-tree Rust module cannot be built without them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$KPOLL_ROOT/scripts/deb-lib.sh"

# Bad input fails here, before anything is created.
check_deb_flavour
check_deb_config
[ "$KPOLL_FLAVOUR" = release ] || die "KPOLL_FLAVOUR=$KPOLL_FLAVOUR: the packages are built from the release sources only"

missing=()
for p in debhelper dpkg-dev rsync kmod xz-utils zstd libssl-dev libelf-dev bc bison flex gcc \
	$([ "$KPOLL_DEB_DEBUG_INFO" = 1 ] && echo dwarves); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	[ "$(id -u)" = 0 ] || die "need root to install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		die "apt-get install failed for: ${missing[*]}"
fi
command -v bindgen >/dev/null || die "bindgen not found: run scripts/setup-toolchain.sh"

bin=$("$KPOLL_ROOT/scripts/deb-toolchain.sh")
read -r -a vars <<<"$(deb_make_vars)"
cache=$(deb_cache)
key=$(
	{
		echo "kpoll-deb v1 $KPOLL_DEB_FLAVOUR debug_info=$KPOLL_DEB_DEBUG_INFO"
		kernel_key
		overlay_key
		sha256sum <"$(deb_config_file)"
		"$bin/rustc" --version
		bindgen --version
		gcc --version | head -1
		cat "$KPOLL_ROOT"/packaging/kernel/* "$KPOLL_ROOT"/scripts/deb-config.sh "$KPOLL_ROOT"/scripts/deb-build.sh
	} | sha256sum | cut -c1-16
)
out="$cache/out/$key"
if [ -f "$out/done" ]; then
	echo "$out"
	exit 0
fi

# The patched, Rust-overlaid tree, prepared as for the release kernel but in this flavour's
# own cache (so a later change of the patches seeds from this tree and rebuilds incrementally).
tree=$(KPOLL_CACHE="$cache" KPOLL_FLAVOUR=release "$KPOLL_ROOT/scripts/prepare-kernel.sh")
top=$(dirname "$tree")
if ! grep -q 'External Rust modules are compiled against' "$tree/scripts/package/install-extmod-build"; then
	patch -d "$tree" -p1 --forward --batch --quiet <"$KPOLL_ROOT/packaging/kernel/headers-rust.patch" >"$top/patch-headers.log" 2>&1 ||
		die "packaging/kernel/headers-rust.patch does not apply; see $top/patch-headers.log"
fi
"$KPOLL_ROOT/scripts/deb-config.sh" "$tree"
# Debian's config has LOCALVERSION_AUTO off and the tree no localversion* file.
release="$(make -s -C "$tree" kernelversion)-kpoll-$KPOLL_DEB_FLAVOUR"

# Package revision: the time of the newest commit that changed what goes into the packages
# (orderable, so apt upgrades a rebuilt kernel), "+dirty" for uncommitted changes.
inputs=(patches rust packaging/kernel scripts/prepare-kernel.sh scripts/deb-config.sh scripts/deb-build.sh)
stamp=$(cd "$KPOLL_ROOT" && TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M -- "${inputs[@]}" 2>/dev/null || true)
dirty=$(cd "$KPOLL_ROOT" && git status --porcelain -- "${inputs[@]}" 2>/dev/null | head -1 || true)
pkgversion="$(make -s -C "$tree" kernelversion)-1+kpoll${stamp:-0}${dirty:+.dirty}"

rm -f "$top"/*.deb "$top"/*.buildinfo "$top"/*.changes
log "building Debian packages of $release ($pkgversion) in $tree (niced; the first build is ~4600 CPU-seconds for cloud-amd64, see README; an interrupted build resumes)"
start=$SECONDS
if ! nice -n 19 ionice -c3 make -C "$tree" -j"$KPOLL_JOBS" "${vars[@]}" \
	KDEB_PKGVERSION="$pkgversion" KDEB_CHANGELOG_DIST=bookworm KDEB_COMPRESS=xz DPKG_FLAGS=-d \
	KBUILD_BUILD_USER=kpoll KBUILD_BUILD_HOST=kpoll-deb DEBFULLNAME="kpoll make deb" DEBEMAIL=kpoll@localhost \
	bindeb-pkg >"$top/deb-build.log" 2>&1; then
	grep -m5 -E 'error|Error' "$top/deb-build.log" >&2 || true
	die "make bindeb-pkg failed; full log: $top/deb-build.log"
fi
took=$((SECONDS - start))
[ "$(cat "$tree/include/config/kernel.release")" = "$release" ] ||
	die "the kernel built as $(cat "$tree/include/config/kernel.release"), expected $release"
touch "$top/built-deb" # lets prepare-kernel.sh seed a later tree from this one

# Collect into a staging directory; publish only a complete, checked set.
stage="$cache/out/.stage-$key"
rm -rf "$stage"
mkdir -p "$stage"
trap 'rm -rf "$stage"' EXIT
for pkg in linux-image-"$release" linux-headers-"$release" $([ "$KPOLL_DEB_DEBUG_INFO" = 1 ] && echo linux-image-"$release"-dbg); do
	deb=$(ls "$top/${pkg}_${pkgversion}_amd64.deb" 2>/dev/null) || die "bindeb-pkg made no $pkg package (see $top/deb-build.log)"
	mv "$deb" "$stage/"
done
headers="$stage/linux-headers-${release}_${pkgversion}_amd64.deb"
# The listing goes to a file first: `dpkg-deb -c | grep -q` fails under pipefail whenever grep
# stops reading early (dpkg-deb then dies of SIGPIPE), i.e. exactly when the file is there.
dpkg-deb -c "$headers" >"$stage/headers.list"
for f in rust/libcore.rmeta rust/libkernel.rmeta rust/libmacros.so include/config/auto.conf Module.symvers scripts/target.json; do
	grep -q " \./usr/src/linux-headers-$release/$f\$" "$stage/headers.list" ||
		die "the headers package lacks $f: external Rust modules could not be built against it"
done
rm -f "$stage/headers.list"
{
	echo "release=$release"
	echo "version=$pkgversion"
	echo "flavour=$KPOLL_DEB_FLAVOUR"
	echo "rustc=$("$bin/rustc" --version)"
	echo "rustc_web=$(deb_rustc_version)"
	echo "build_seconds=$took"
	echo "modules=$(dpkg-deb -c "$stage/linux-image-${release}_${pkgversion}_amd64.deb" | grep -cE '\.ko(\.(xz|zst|gz))?$')"
} >"$stage/build-info"
rm -rf "$out"
mv "$stage" "$out"
touch "$out/done"
ln -sfn "$key" "$cache/out/latest"
log "Debian packages of $release built in $((took / 60)) min $((took % 60)) s"
echo "$out"
