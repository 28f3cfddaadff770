#!/usr/bin/env bash
# Writes TREE/.config for the Debian packages: Debian's own config of KPOLL_DEB_FLAVOUR
# (package linux-config-6.12), kpoll's changes (packaging/kernel/*.config) merged on top,
# LOCALVERSION -kpoll-<flavour>, then olddefconfig with the packaging toolchain. Fails, naming
# the line, if one of kpoll's changes did not survive olddefconfig (CONFIG_RUST drops silently
# when the toolchain check fails).
#
# Usage: scripts/deb-config.sh TREE   (a 6.12 source tree; Kconfig files are enough)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$KPOLL_ROOT/scripts/deb-lib.sh"

[ $# -eq 1 ] && [ -f "$1/Kconfig" ] || die "usage: deb-config.sh TREE (a kernel source tree)"
tree=$1
check_deb_flavour
check_deb_config
cfg=$(deb_config_file)

version=$(make -s -C "$tree" kernelversion)
cfg_version=$(xz -dc "$cfg" | sed -n 's|^# Linux/x86 \([^ ]*\) Kernel Configuration$|\1|p' | head -1)
[ "$cfg_version" = "$version" ] ||
	die "$cfg is Debian's config for $cfg_version, the kernel source is $version: install matching linux-config-6.12 and linux-source-6.12"

bin=$("$KPOLL_ROOT/scripts/deb-toolchain.sh")
read -r -a vars <<<"$(deb_make_vars)"

fragments=("$KPOLL_ROOT/packaging/kernel/kpoll.config")
if [ "$KPOLL_DEB_DEBUG_INFO" = 1 ]; then
	fragments+=("$KPOLL_ROOT/packaging/kernel/debug-info.config")
else
	fragments+=("$KPOLL_ROOT/packaging/kernel/no-debug-info.config")
fi
local_fragment=$(mktemp)
trap 'rm -f "$local_fragment"' EXIT
echo "CONFIG_LOCALVERSION=\"-kpoll-$KPOLL_DEB_FLAVOUR\"" >"$local_fragment"
fragments+=("$local_fragment")

xz -dc "$cfg" >"$tree/.config.deb-new"
(cd "$tree" && KCONFIG_CONFIG=.config.deb-new scripts/kconfig/merge_config.sh -m .config.deb-new \
	"${fragments[@]}" >/dev/null) || die "merging kpoll's changes onto $cfg failed"
out=$(make -s -C "$tree" "${vars[@]}" KCONFIG_CONFIG=.config.deb-new olddefconfig 2>&1) ||
	die "olddefconfig failed: $(echo "$out" | tail -3)"
for fragment in "${fragments[@]}"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=* | "# CONFIG_"*" is not set") ;;
		*) continue ;;
		esac
		grep -qx -- "$line" "$tree/.config.deb-new" && continue
		if [ "$line" = CONFIG_RUST=y ]; then
			why=$(cd "$tree" && RUSTC="$bin/rustc" BINDGEN=bindgen CC=gcc \
				scripts/rust_is_available.sh 2>&1 | grep -m1 -E '\*\*\*.+[a-z]' | sed 's/^\*\*\* *//') || true
			rm -f "$tree/.config.deb-new"
			die "config: CONFIG_RUST=y did not stick: ${why:-a dependency of RUST is off (see init/Kconfig)}"
		fi
		rm -f "$tree/.config.deb-new"
		die "config: $line ($(basename "$fragment")) did not stick (missing dependency?)"
	done <"$fragment"
done
# An unchanged config keeps its timestamp (no needless Kconfig run in an incremental build).
if cmp -s "$tree/.config.deb-new" "$tree/.config"; then
	rm -f "$tree/.config.deb-new"
else
	mv "$tree/.config.deb-new" "$tree/.config"
fi
