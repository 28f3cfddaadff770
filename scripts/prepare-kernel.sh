#!/usr/bin/env bash
# Unpacks Debian's 6.12 source into the cache, applies patches/, overlays rust/ and writes the
# guest config. Prints the tree's path. A tree whose key (source + patches + config) is already
# prepared is reused; the Rust overlay is synced every time (make rebuilds what changed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tree=$(kernel_tree)
top=$(dirname "$tree")

if [ ! -f "$top/prepared" ]; then
	rm -rf "$top"
	mkdir -p "$top"
	log "unpacking $KPOLL_KERNEL_SOURCE into $top"
	tar -xf "$KPOLL_KERNEL_SOURCE" -C "$top"
	mv "$top"/linux-source-6.12 "$tree"
	version=$(make -s -C "$tree" kernelversion)
	for p in "$KPOLL_ROOT"/patches/*.patch; do
		if ! patch -d "$tree" -p1 --forward --batch --quiet <"$p" >"$top/patch.log" 2>&1; then
			die "$(basename "$p") does not apply to $version (made for 6.12.117); see $top/patch.log"
		fi
	done
	make -s -C "$tree" LLVM=1 ARCH=x86_64 tinyconfig >/dev/null
	(cd "$tree" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config \
		"$KPOLL_ROOT/config/guest.config" >/dev/null)
	make -s -C "$tree" LLVM=1 ARCH=x86_64 olddefconfig >/dev/null
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*)
			grep -qx -- "$line" "$tree/.config" || die "config: $line did not stick (missing dependency?)";;
		esac
	done <"$KPOLL_ROOT/config/guest.config"
	touch "$top/prepared"
fi

# Overlay rust/: copy files, declare new modules, include new helpers and binding headers.
rsync -rc "$KPOLL_ROOT/rust/" "$tree/rust/"
declare_mod() { # parent-file module-name
	grep -q "^pub mod $2;" "$1" || printf 'pub mod %s;\n' "$2" >>"$1"
}
for f in "$KPOLL_ROOT"/rust/kernel/*.rs; do
	[ -e "$f" ] && declare_mod "$tree/rust/kernel/lib.rs" "$(basename "$f" .rs)"
done
for f in "$KPOLL_ROOT"/rust/kernel/net/*.rs; do
	[ -e "$f" ] && declare_mod "$tree/rust/kernel/net.rs" "$(basename "$f" .rs)"
done
for f in "$KPOLL_ROOT"/rust/helpers/*.c; do
	[ -e "$f" ] || continue
	grep -q "#include \"$(basename "$f")\"" "$tree/rust/helpers/helpers.c" ||
		printf '#include "%s"\n' "$(basename "$f")" >>"$tree/rust/helpers/helpers.c"
done
for f in "$KPOLL_ROOT"/rust/bindings/*.h; do
	[ -e "$f" ] || continue
	grep -q "#include \"$(basename "$f")\"" "$tree/rust/bindings/bindings_helper.h" ||
		printf '#include "%s"\n' "$(basename "$f")" >>"$tree/rust/bindings/bindings_helper.h"
done
echo "$tree"
