"""Which QEMU accelerator the guests use: KVM when it really boots our guest, TCG otherwise.

`KPOLL_ACCEL=kvm|tcg` overrides. Otherwise the verdict is cached in `$KPOLL_CACHE/accel`; the
first time, if /dev/kvm is usable, a trial boot (the caller's `trial`, at most
KVM_TRIAL_TIMEOUT seconds) decides. A nested or half-working KVM that cannot boot the guest in
time gives TCG.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Callable

from harness.env import CACHE, log
from harness.errors import VmError

ACCELS = ("kvm", "tcg")
# Seconds until KPOLL-GUEST-READY, by accelerator (KPOLL_BOOT_TIMEOUT overrides).
BOOT_TIMEOUT = {"tcg": 120.0, "kvm": 60.0}
KVM_TRIAL_TIMEOUT = 20.0
_KVM_GET_API_VERSION = 0xAE00
_KVM_API_VERSION = 12


def kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, _KVM_GET_API_VERSION) == _KVM_API_VERSION
    except OSError:
        return False
    finally:
        os.close(fd)


def choose(trial: Callable[[], bool] | None) -> str:
    """'kvm' or 'tcg' (see the module doc). `trial` boots a guest under KVM and says whether it
    worked; without one, an uncached choice is 'tcg' and is not cached."""
    env = os.environ.get("KPOLL_ACCEL", "").strip()
    if env:
        if env not in ACCELS:
            raise VmError(f"KPOLL_ACCEL must be kvm or tcg, not {env!r}")
        return env
    cache = os.path.join(CACHE, "accel")
    try:
        with open(cache) as f:
            cached = f.read().strip()
        if cached in ACCELS:
            return cached
    except OSError:
        pass
    if not kvm_usable():
        verdict = "tcg"
    elif trial is None:
        return "tcg"  # cannot run the trial; do not cache a guess
    else:
        log(f"trying a KVM boot (up to {KVM_TRIAL_TIMEOUT:.0f} s) to choose the accelerator")
        verdict = "kvm" if trial() else "tcg"
    os.makedirs(CACHE, exist_ok=True)
    tmp = f"{cache}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(verdict + "\n")
    os.replace(tmp, cache)
    return verdict
