#!/usr/bin/env python3
"""kpoll's test runner: host tests, builds, then the VM suite. Prints TAP-like lines and ends
with 'N passed, N failed'. Exit status 0 only if nothing failed."""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from tap import Results, log  # noqa: E402
import host_suite  # noqa: E402


def build(results, name, cmd):
    """Runs a build step; returns its last stdout line (a path) or None on failure."""
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    ok = proc.returncode == 0
    if not ok:
        results.record(name, False, (proc.stderr or proc.stdout)[-3000:])
        return None
    return proc.stdout.strip().splitlines()[-1]


def main():
    results = Results()
    host_suite.run(results)

    module = build(results, "build kpoll.ko", ["scripts/build-module.sh"])
    kernel = build(results, "build kernel", ["scripts/build-kernel.sh"])
    if module:
        results.record("build kpoll.ko", True, module)
    tools = build(results, "build guest test tools", ["scripts/build-tools.sh"])
    if not (module and kernel and tools):
        return results.summary()
    extra = [f"{module}:/lib/kpoll/kpoll.ko"] + [
        f"{path}:/usr/local/bin/{os.path.basename(path)}" for path in tools.split()
    ]
    initrd = build(results, "build initramfs", ["scripts/build-initramfs.sh", *extra])
    if not initrd:
        return results.summary()

    import bench_smoke
    import fault_suite
    import vm_suite

    vm_suite.run(results, kernel, initrd)
    fault_suite.run(results, kernel, initrd)
    bench_smoke.run(results, kernel, initrd)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
