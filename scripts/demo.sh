#!/usr/bin/env bash
# The main job: builds the patched kernel, kpoll.ko and the guest, boots it, runs unmodified
# memcached under memcaslap load from the host namespace with kpoll off and on, and prints a
# before/after table of RX IRQs per request, throughput and guest CPU.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kernel=$("$KPOLL_ROOT/scripts/build-kernel.sh")
module=$("$KPOLL_ROOT/scripts/build-module.sh")
tools=$("$KPOLL_ROOT/scripts/build-tools.sh")
extra=("$module:/lib/kpoll/kpoll.ko")
for t in $tools; do extra+=("$t:/usr/local/bin/$(basename "$t")"); done
initrd=$("$KPOLL_ROOT/scripts/build-initramfs.sh" "${extra[@]}")
exec python3 "$KPOLL_ROOT/scripts/demo.py" --kernel "$kernel" --initrd "$initrd" "$@"
