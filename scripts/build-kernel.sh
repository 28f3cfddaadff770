#!/usr/bin/env bash
# Builds the patched guest kernel (bzImage + Rust crates) in the cache. Skips the build when the
# same tree was already built with the same Rust overlay. Prints the bzImage path.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tree=$("$KPOLL_ROOT/scripts/prepare-kernel.sh")
stamp="$(dirname "$tree")/built-$(overlay_key)"
if [ ! -f "$stamp" ]; then
	"$KPOLL_ROOT/scripts/check-rust.sh" "$tree"
	log "building kernel in $tree (a cold build takes ~10 minutes on 2 cores)"
	start=$SECONDS
	if ! kmake bzImage modules >"$(dirname "$tree")/build.log" 2>&1; then
		grep -m5 -E 'error|Error' "$(dirname "$tree")/build.log" >&2 || true
		die "kernel build failed; full log: $(dirname "$tree")/build.log"
	fi
	log "kernel built in $((SECONDS - start)) s"
	rm -f "$(dirname "$tree")"/built-*
	touch "$stamp"
fi
echo "$tree/arch/x86/boot/bzImage"
