#!/usr/bin/env bash
# Builds kpoll.ko from src/ against the prepared, built kernel tree. Prints the module's path.
# --no-rests: the benchmark-only build that never rests an epoll (`--cfg kpoll_no_rests`,
# src/hooks.rs), in a build folder of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$KPOLL_ROOT/scripts/build-kernel.sh" >/dev/null
case "${1:-}" in
"") KRUSTFLAGS="" build_external_module module src/kpoll.ko Kbuild src ;;
--no-rests) KRUSTFLAGS="--cfg kpoll_no_rests" build_external_module module-no-rests src/kpoll.ko Kbuild src ;;
*) die "usage: $0 [--no-rests]" ;;
esac
