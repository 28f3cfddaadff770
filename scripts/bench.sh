#!/usr/bin/env bash
# `make bench`: builds the patched kernel, kpoll.ko and the guest, then runs the benchmark
# (scripts/bench.py, which builds kpoll-loadgen; pass its options, e.g. --mode quick,
# --commit-results).
# The kernel is the `compare` flavour: the release kernel plus patches/compare/ (upstream 6.13's
# IRQ suspension re-implemented on 6.12, benchmark only), so every configuration, upstream's
# mechanism included, runs on one kernel. KPOLL_FLAVOUR=release benchmarks the release kernel
# (the upstream configuration is then skipped).
set -euo pipefail
export KPOLL_FLAVOUR=${KPOLL_FLAVOUR:-compare}
source "$(dirname "$0")/lib.sh"

guest=$("$KPOLL_ROOT/scripts/build-guest.sh")
read -r kernel initrd <<<"$guest"
# No __pycache__ in the shared tree.
export PYTHONDONTWRITEBYTECODE=1
cd "$KPOLL_ROOT"
exec python3 -m scripts.bench --kernel "$kernel" --initrd "$initrd" "$@"
