#!/usr/bin/env bash
# Builds the test-only module kpoll_contexts.ko (tests/kmod/, see its source) against the
# prepared, built kernel tree. Prints the module's path.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$KPOLL_ROOT/scripts/build-kernel.sh" >/dev/null
build_external_module test-module kpoll_contexts.ko tests/kmod/./Kbuild tests/kmod/./kpoll_contexts.rs
