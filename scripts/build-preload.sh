#!/usr/bin/env bash
# Builds tools/epoll-params-preload (the LD_PRELOAD library that sets EPIOCSPARAMS on every epoll
# instance, for the compare flavour's IRQ-suspension runs) into the cache. Prints its path; the
# guest image holds it as /usr/local/lib/epoll_params_preload.so (scripts/build-guest.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

src="$KPOLL_ROOT/tools/epoll-params-preload/epoll_params_preload.c"
cc=${CC:-cc}
out="$KPOLL_CACHE/preload/epoll_params_preload.so"
key=$({ cat "$src"; "$cc" --version | head -1; } | sha256sum | cut -c1-16)
if [ "$(cat "$out.key" 2>/dev/null)" != "$key" ] || [ ! -s "$out" ]; then
	mkdir -p "$(dirname "$out")"
	"$cc" -O2 -Wall -Wextra -Werror -shared -fPIC -o "$out.tmp.$$" "$src" -ldl ||
		die "building $src failed"
	mv "$out.tmp.$$" "$out"
	echo "$key" >"$out.key"
fi
echo "$out"
