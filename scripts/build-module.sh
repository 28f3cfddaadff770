#!/usr/bin/env bash
# Builds kpoll.ko from src/ against the prepared, built kernel tree. Prints the module's path.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$KPOLL_ROOT/scripts/build-kernel.sh" >/dev/null
build_external_module module src/kpoll.ko Kbuild src
