#!/usr/bin/env bash
# Builds the guest programs (tools/, kpollctl/) for the host's target; the initramfs copies them with
# their shared libraries. Prints their paths, space-separated.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

target="$KPOLL_CACHE/tools-target"
cargo build --quiet --release --manifest-path "$KPOLL_ROOT/Cargo.toml" --target-dir "$target" \
	-p kpoll-tools -p kpollctl >&2 || die "building tools/ and kpollctl/ failed"
# Every program of tools/src/bin (one file, or a folder with main.rs and its modules), and
# kpollctl.
programs=()
for src in "$KPOLL_ROOT"/tools/src/bin/*.rs "$KPOLL_ROOT"/tools/src/bin/*/main.rs; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .rs)
	[ "$name" = main ] && name=$(basename "$(dirname "$src")")
	programs+=("$target/release/$name")
done
echo "${programs[*]} $target/release/kpollctl"
