#!/usr/bin/env python3
"""kpoll's test runner: host tests, builds, then the VM suite. Prints TAP-like lines and ends
with 'N passed, N failed'. Exit status 0 only if nothing failed."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from tap import Results  # noqa: E402
import host_suite  # noqa: E402


def build(results, name, cmd, env=None):
    """Runs a build step; returns its last stdout line (a path) or None on failure."""
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    ok = proc.returncode == 0
    if not ok:
        results.record(name, False, (proc.stderr or proc.stdout)[-3000:])
        return None
    return proc.stdout.strip().splitlines()[-1]


def build_guest(results, flavour):
    """Builds the kernel, kpoll.ko and the initramfs of a kernel flavour; (kernel, initrd) or
    None if a step failed (the failure is recorded)."""
    env = dict(os.environ, KPOLL_FLAVOUR=flavour)
    module = build(results, f"build kpoll.ko ({flavour})", ["scripts/build-module.sh"], env)
    kernel = build(results, f"build kernel ({flavour})", ["scripts/build-kernel.sh"], env)
    if module:
        results.record(f"build kpoll.ko ({flavour})", True, module)
    tools = build(results, "build guest test tools", ["scripts/build-tools.sh"], env)
    if not (module and kernel and tools):
        return None
    extra = [f"{module}:/lib/kpoll/kpoll.ko"] + [
        f"{path}:/usr/local/bin/{os.path.basename(path)}" for path in tools.split()
    ]
    initrd = build(results, f"build initramfs ({flavour})", ["scripts/build-initramfs.sh",
                                                              *extra], env)
    return (kernel, initrd) if initrd else None


def main():
    results = Results()
    host_suite.run(results)

    guest = build_guest(results, os.environ.get("KPOLL_FLAVOUR", "release"))
    if not guest:
        return results.summary()

    import bench_smoke
    import fault_suite
    import vm_suite

    vm_suite.run(results, *guest)
    fault_suite.run(results, *guest)
    bench_smoke.run(results, *guest)
    if os.environ.get("KPOLL_KASAN_STAGE") == "1":
        kasan_guest = build_guest(results, "kasan")
        if kasan_guest:
            fault_suite.run_memory_safety(results, *kasan_guest)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
