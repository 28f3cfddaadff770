#!/usr/bin/env bash
# `make bench`: builds the patched kernel, kpoll.ko, the guest and kpoll-loadgen, then runs the
# benchmark (scripts/bench.py; pass its options, e.g. --mode quick, --commit-results).
# The kernel is the `compare` flavour: the release kernel plus patches/compare/ (upstream 6.13's
# IRQ suspension re-implemented on 6.12, benchmark only), so every configuration, upstream's
# mechanism included, runs on one kernel. KPOLL_FLAVOUR=release benchmarks the release kernel
# (the upstream configuration is then skipped).
set -euo pipefail
export KPOLL_FLAVOUR=${KPOLL_FLAVOUR:-compare}
source "$(dirname "$0")/lib.sh"

guest=$("$KPOLL_ROOT/scripts/build-guest.sh")
read -r kernel initrd <<<"$guest"
cargo build --quiet --release --manifest-path "$KPOLL_ROOT/Cargo.toml" -p kpoll-loadgen \
	--target-dir "$KPOLL_CACHE/tools-target" >&2 || die "building kpoll-loadgen failed"
# No __pycache__ in the shared tree.
export PYTHONDONTWRITEBYTECODE=1
cd "$KPOLL_ROOT"
exec python3 -m scripts.bench --kernel "$kernel" --initrd "$initrd" \
	--loadgen "$KPOLL_CACHE/tools-target/release/kpoll-loadgen" "$@"
