#!/usr/bin/env bash
# Builds one C file of tools/ into a shared library in the cache (rebuilt when the source or the
# compiler changes) and prints its path. Usage: build-shared-lib.sh TOOL-DIR/FILE.c [LIBS...]
# Used for tools/epoll-params-preload (the LD_PRELOAD library that sets EPIOCSPARAMS on every
# epoll instance, for the compare flavour's IRQ-suspension runs; the guest image holds it as
# /usr/local/lib/epoll_params_preload.so, scripts/build-guest.sh) and tools/insn-profile (the
# QEMU plugin of scripts/profile.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: build-shared-lib.sh TOOL-DIR/FILE.c [LIBS...]"
rel=$1
shift
src="$KPOLL_ROOT/tools/$rel"
[ -f "$src" ] || die "no $src"
cc=${CC:-cc}
out="$KPOLL_CACHE/shared-libs/$(basename "$rel" .c).so"
key=$({ cat "$src"; echo "$*"; "$cc" --version | head -1; } | sha256sum | cut -c1-16)
if [ "$(cat "$out.key" 2>/dev/null)" != "$key" ] || [ ! -s "$out" ]; then
	mkdir -p "$(dirname "$out")"
	"$cc" -O2 -Wall -Wextra -Werror -shared -fPIC -o "$out.tmp.$$" "$src" "$@" ||
		die "building $src failed"
	mv "$out.tmp.$$" "$out"
	echo "$key" >"$out.key"
fi
echo "$out"
