#!/usr/bin/env bash
# `make profile`: builds the compare-flavour kernel, kpoll.ko, the guest and the insn_profile QEMU
# plugin, then runs scripts/profile.py (pass its options, e.g. --pairs 6 --configs
# vanilla,kpoll): guest instructions per request by function, exactly, in alternating windows.
set -euo pipefail
export KPOLL_FLAVOUR=${KPOLL_FLAVOUR:-compare}
source "$(dirname "$0")/lib.sh"

guest=$("$KPOLL_ROOT/scripts/build-guest.sh")
read -r kernel initrd <<<"$guest"
plugin=$("$KPOLL_ROOT/scripts/build-shared-lib.sh" insn-profile/insn_profile.c -lpthread)
export PYTHONDONTWRITEBYTECODE=1
cd "$KPOLL_ROOT"
exec python3 -m scripts.profile --kernel "$kernel" --initrd "$initrd" --plugin "$plugin" "$@"
