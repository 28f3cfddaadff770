#!/usr/bin/env bash
# The main job: builds the patched kernel, kpoll.ko and the guest, boots it, runs unmodified
# memcached under kpoll-loadgen load from the host namespace with kpoll off and on (measured as
# the benchmark measures), and prints a before/after table of RX IRQs per request, throughput
# and guest CPU per request.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

guest=$("$KPOLL_ROOT/scripts/build-guest.sh")
read -r kernel initrd <<<"$guest"
cd "$KPOLL_ROOT"
exec python3 -m scripts.demo --kernel "$kernel" --initrd "$initrd" "$@"
