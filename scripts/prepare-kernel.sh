#!/usr/bin/env bash
# Unpacks Debian's 6.12 source into the cache, applies patches/, overlays rust/ and writes the
# guest config of the flavour in KPOLL_FLAVOUR (release, debug or kasan). Prints the tree's path. A tree whose key (source + patches + config) is already
# prepared is reused; the Rust overlay is synced every time (make rebuilds what changed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tree=$(kernel_tree)
top=$(dirname "$tree")

# Seeds a new tree from the newest built one: undo its patches, keep its objects, so a patch or
# config change rebuilds only what it touches. Returns non-zero if that is not possible.
seed_from_previous() {
	local prev
	prev=$(ls -td "$KPOLL_CACHE"/kernel-*/ 2>/dev/null | while read -r d; do
		[ -f "$d/prepared" ] && [ -f "$d/applied.patch" ] && ls "$d"/built-* >/dev/null 2>&1 &&
			[ "$(cat "$d/flavour" 2>/dev/null || echo release)" = "$KPOLL_FLAVOUR" ] &&
			[ "${d%/}" != "$top" ] && echo "${d%/}" && break
	done) || true
	# >>> compare flavour only (left out of the other flavours' kernel keys: lib.sh, kernel_key)
	# No compare tree built yet: start from the release tree (same config; its applied.patch
	# holds patches/ alone, which the compare tree applies too, with patches/compare/ on top).
	if [ -z "$prev" ] && [ "$KPOLL_FLAVOUR" = compare ]; then
		prev=$(newest_built_tree release "$top") || true
	fi
	# <<< compare flavour only
	[ -n "$prev" ] || return 1
	log "seeding the kernel tree from $prev"
	cp -a "$prev/linux" "$tree" || return 1
	# tools/ (objtool, which every object depends on) records absolute paths in its build
	# commands: point them at the new tree, or objtool is rebuilt, newer than every object, and
	# the whole kernel with it.
	grep -rlZ --include='.*.cmd' --include='*.d' -F "$prev/linux/" "$tree/tools" |
		xargs -0r sed -i "s|$prev/linux/|$tree/|g" || true
	# Keep the originals of patched files, so that files the new patches leave unchanged get
	# their old timestamps back (and make does not rebuild everything including them).
	mkdir -p "$top/seed-originals"
	sed -n 's|^+++ b/||p' "$prev/applied.patch" | while read -r f; do
		[ -f "$tree/$f" ] && mkdir -p "$top/seed-originals/$(dirname "$f")" &&
			cp -p "$tree/$f" "$top/seed-originals/$f"
	done
	patch -d "$tree" -p1 -R --batch --quiet <"$prev/applied.patch" >"$top/patch.log" 2>&1
}

restore_unchanged_timestamps() {
	[ -d "$top/seed-originals" ] || return 0
	(cd "$top/seed-originals" && find . -type f) | while read -r f; do
		cmp -s "$top/seed-originals/$f" "$tree/$f" && touch -r "$top/seed-originals/$f" "$tree/$f"
	done
	rm -rf "$top/seed-originals"
}

if [ ! -f "$top/prepared" ]; then
	rm -rf "$top"
	mkdir -p "$top"
	if ! seed_from_previous; then
		rm -rf "$tree" "$top/seed-originals"
		log "unpacking $KPOLL_KERNEL_SOURCE into $top"
		tar -xf "$KPOLL_KERNEL_SOURCE" -C "$top"
		mv "$top"/linux-source-6.12 "$tree"
	fi
	version=$(make -s -C "$tree" kernelversion)
	for p in "$KPOLL_ROOT"/patches/*.patch; do
		if ! patch -d "$tree" -p1 --forward --batch --quiet <"$p" >"$top/patch.log" 2>&1; then
			die "$(basename "$p") does not apply to $version (made for 6.12.117); see $top/patch.log"
		fi
	done
	# >>> compare flavour only
	if [ "$KPOLL_FLAVOUR" = compare ]; then
		for p in $(compare_patches); do
			if ! patch -d "$tree" -p1 --forward --batch --quiet <"$p" >"$top/patch.log" 2>&1; then
				die "compare/$(basename "$p") does not apply on top of patches/; see $top/patch.log"
			fi
		done
	fi
	# <<< compare flavour only
	restore_unchanged_timestamps
	echo "$KPOLL_FLAVOUR" >"$top/flavour"
	cat "$KPOLL_ROOT"/patches/*.patch >"$top/applied.patch"
	# >>> compare flavour only
	# seed_from_previous() undoes applied.patch with one `patch -R` pass, which must meet the
	# patches in reverse order: the compare patches (last first) come before patches/.
	if [ "$KPOLL_FLAVOUR" = compare ]; then
		{
			compare_patches | tac | while read -r p; do cat "$p"; done
			cat "$KPOLL_ROOT"/patches/*.patch
		} >"$top/applied.patch"
	fi
	# <<< compare flavour only
	make -s -C "$tree" LLVM=1 ARCH=x86_64 tinyconfig >/dev/null
	mapfile -t fragments < <(config_fragments)
	(cd "$tree" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config \
		"${fragments[@]}" >/dev/null)
	make -s -C "$tree" LLVM=1 ARCH=x86_64 olddefconfig >/dev/null
	for fragment in "${fragments[@]}"; do
		while IFS= read -r line; do
			case "$line" in CONFIG_*=*)
				grep -qx -- "$line" "$tree/.config" ||
					die "config: $line ($(basename "$fragment")) did not stick (missing dependency?)";;
			esac
		done <"$fragment"
	done
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
for f in "$KPOLL_ROOT"/rust/kernel/sync/*.rs; do
	[ -e "$f" ] && declare_mod "$tree/rust/kernel/sync.rs" "$(basename "$f" .rs)"
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
