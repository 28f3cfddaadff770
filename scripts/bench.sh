#!/usr/bin/env bash
# `make bench`: builds the patched kernel, kpoll.ko, the guest and kpoll-loadgen, then runs the
# benchmark (scripts/bench.py; pass its options, e.g. --quick, --smoke, --commit-results).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kernel=$("$KPOLL_ROOT/scripts/build-kernel.sh")
module=$("$KPOLL_ROOT/scripts/build-module.sh")
tools=$("$KPOLL_ROOT/scripts/build-tools.sh")
extra=("$module:/lib/kpoll/kpoll.ko")
for t in $tools; do extra+=("$t:/usr/local/bin/$(basename "$t")"); done
initrd=$("$KPOLL_ROOT/scripts/build-initramfs.sh" "${extra[@]}")
cargo build --quiet --release --manifest-path "$KPOLL_ROOT/Cargo.toml" -p kpoll-loadgen \
	--target-dir "$KPOLL_CACHE/tools-target" >&2 || die "building kpoll-loadgen failed"
# Plots need matplotlib; without it the benchmark still runs and the report says so.
python3 -c 'import matplotlib' 2>/dev/null || pip install --quiet matplotlib >&2 ||
	log "matplotlib could not be installed; plots will be skipped"
cd "$KPOLL_ROOT"
exec python3 "$KPOLL_ROOT/scripts/bench.py" --kernel "$kernel" --initrd "$initrd" \
	--loadgen "$KPOLL_CACHE/tools-target/release/kpoll-loadgen" "$@"
