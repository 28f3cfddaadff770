#!/usr/bin/env bash
# Builds everything a guest boot needs: the patched kernel, kpoll.ko, the benchmark's
# kpoll-no-rests.ko, the test module kpoll_contexts.ko, the guest programs and the initramfs
# holding them. Prints "KERNEL INITRD" on one line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kernel=$("$KPOLL_ROOT/scripts/build-kernel.sh")
module=$("$KPOLL_ROOT/scripts/build-module.sh")
module_no_rests=$("$KPOLL_ROOT/scripts/build-module.sh" --no-rests)
test_module=$("$KPOLL_ROOT/scripts/build-test-module.sh")
tools=$("$KPOLL_ROOT/scripts/build-tools.sh")
preload=$("$KPOLL_ROOT/scripts/build-shared-lib.sh" epoll-params-preload/epoll_params_preload.c -ldl)
extra=("$module:/lib/kpoll/kpoll.ko" "$module_no_rests:/lib/kpoll/kpoll-no-rests.ko"
	"$test_module:/lib/kpoll/kpoll_contexts.ko" "$preload:/usr/local/lib/epoll_params_preload.so")
for t in $tools; do extra+=("$t:/usr/local/bin/$(basename "$t")"); done
initrd=$("$KPOLL_ROOT/scripts/build-initramfs.sh" "${extra[@]}")
echo "$kernel $initrd"
