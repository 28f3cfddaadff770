#!/usr/bin/env bash
# `make bench`: builds the patched kernel, kpoll.ko, the guest and kpoll-loadgen, then runs the
# benchmark (scripts/bench.py; pass its options, e.g. --mode quick, --commit-results).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

guest=$("$KPOLL_ROOT/scripts/build-guest.sh")
read -r kernel initrd <<<"$guest"
cargo build --quiet --release --manifest-path "$KPOLL_ROOT/Cargo.toml" -p kpoll-loadgen \
	--target-dir "$KPOLL_CACHE/tools-target" >&2 || die "building kpoll-loadgen failed"
cd "$KPOLL_ROOT"
exec python3 "$KPOLL_ROOT/scripts/bench.py" --kernel "$kernel" --initrd "$initrd" \
	--loadgen "$KPOLL_CACHE/tools-target/release/kpoll-loadgen" "$@"
