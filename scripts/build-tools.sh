#!/usr/bin/env bash
# Builds the guest programs (tools/, kpollctl/) for the host's target; the initramfs copies them with
# their shared libraries. Prints their paths, space-separated.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

target="$KPOLL_CACHE/tools-target"
cargo build --quiet --release --manifest-path "$KPOLL_ROOT/Cargo.toml" --target-dir "$target" \
	-p kpoll-tools -p kpollctl >&2 || die "building tools/ and kpollctl/ failed"
# Every program of tools/src/bin, and kpollctl.
programs=()
for src in "$KPOLL_ROOT"/tools/src/bin/*.rs; do
	programs+=("$target/release/$(basename "$src" .rs)")
done
echo "${programs[*]} $target/release/kpollctl"
