#!/usr/bin/env bash
# Builds kpoll.ko from src/ against the prepared, built kernel tree. Prints the module's path.
# The sources are copied to the cache first so the clone stays free of build output.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$KPOLL_ROOT/scripts/build-kernel.sh" >/dev/null
tree=$(kernel_tree)
out="$KPOLL_CACHE/module-$KPOLL_FLAVOUR"
# A rebuilt kernel crate invalidates the module's objects: start clean when the kernel changed.
kernel_stamp="$(kernel_key)-$(overlay_key)"
if [ "$(cat "$out/.kernel-stamp" 2>/dev/null)" != "$kernel_stamp" ]; then
	rm -rf "$out"
	mkdir -p "$out"
	echo "$kernel_stamp" >"$out/.kernel-stamp"
fi
rsync -rc --delete --exclude '*.o' --exclude '*.ko' --exclude '.*.cmd' --exclude '*.mod*' \
	--exclude 'modules.order' --exclude 'Module.symvers' \
	"$KPOLL_ROOT/Kbuild" "$KPOLL_ROOT/src" "$out/" 2>/dev/null ||
	rsync -rc "$KPOLL_ROOT/Kbuild" "$KPOLL_ROOT/src" "$out/"
if ! make -C "$tree" LLVM=1 ARCH=x86_64 M="$out" -j"$KPOLL_JOBS" modules >"$out/build.log" 2>&1; then
	grep -E '^(error|warning)' -A8 "$out/build.log" | head -60 >&2 || true
	die "kpoll.ko build failed; full log: $out/build.log"
fi
if grep -q '^warning' "$out/build.log"; then
	grep -E '^warning' -A8 "$out/build.log" | head -40 >&2
	die "kpoll.ko built with warnings (treated as errors); full log: $out/build.log"
fi
echo "$out/src/kpoll.ko"
