#!/usr/bin/env python3
"""kpoll's test runner: host tests, builds, then the VM suite. Prints TAP-like lines and ends
with 'N passed, N failed'. Exit status 0 only if nothing failed.

Started by tests/run.sh as `python3 -m tests.run` from the repository root."""
from __future__ import annotations

import os
import subprocess
import sys

from harness.env import ROOT
from tests import deb_suite, host_suite, model_check, python_checks
from tests.tap import Results


def build(results: Results, name: str, cmd: list[str],
          env: dict[str, str] | None = None) -> str | None:
    """Runs a build step; returns its last stdout line (a path) or None on failure."""
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    ok = proc.returncode == 0
    if not ok:
        results.record(name, False, (proc.stderr or proc.stdout)[-3000:])
        return None
    return proc.stdout.strip().splitlines()[-1]


def build_guest(results: Results, flavour: str) -> tuple[str, str] | None:
    """Builds the kernel, kpoll.ko, the guest programs and the initramfs of a kernel flavour
    (scripts/build-guest.sh); (kernel, initrd) or None if the build failed (recorded)."""
    name = f"build the {flavour} guest (kernel, kpoll.ko, initramfs)"
    env = dict(os.environ, KPOLL_FLAVOUR=flavour)
    paths = build(results, name, ["scripts/build-guest.sh"], env)
    if not paths:
        return None
    results.record(name, True, paths)
    kernel, initrd = paths.split()
    return kernel, initrd


def main() -> int:
    results = Results()
    host_suite.run(results)
    deb_suite.run(results)
    python_checks.run(results)
    model_check.run(results)

    guest = build_guest(results, os.environ.get("KPOLL_FLAVOUR", "release"))
    if not guest:
        return results.summary()

    from tests import bench_smoke, fault_suite, sysctl_suite, vm_suite

    vm_suite.run(results, *guest)
    sysctl_suite.run(results, *guest)
    fault_suite.run(results, *guest)
    bench_smoke.run(results, *guest)
    # The later stages: memory safety (KASAN), then real-time preemption (PREEMPT_RT).
    for flavour, switch in (("kasan", "KPOLL_KASAN_STAGE"), ("rt", "KPOLL_RT_STAGE")):
        if os.environ.get(switch) == "1":
            stage_guest = build_guest(results, flavour)
            if stage_guest:
                fault_suite.run_later_stage(results, *stage_guest, flavour)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
