"""One guest boot running a list of tests: the boot is a test of its own (with a check that the
kernel's checkers are in it), every test leaves the guest as it found it, and the console is
scanned for kernel reports when the guest goes down."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from harness.vm import Vm
from tests.tap import Results

# Boot banners that prove the checkers (and, on rt, PREEMPT_RT) are in the kernel that was
# booted (KPOLL_FLAVOUR).
LOCKDEP_BANNER = "Lock dependency validator"
BANNERS = {"debug": (LOCKDEP_BANNER,), "kasan": ("KernelAddressSanitizer initialized",),
           "rt": (LOCKDEP_BANNER, " PREEMPT_RT ")}


def run_tests(results: Results, label: str, kernel: str, initrd: str,
              tests: Sequence[Callable[[Vm], object]], log_name: str, flavour: str | None = None,
              **vm_options: Any) -> None:
    """Boots a guest (`vm_options` go to Vm) and runs each test(vm), recording
    "<label>: <test name>"."""
    log_path = os.path.join(os.environ.get("KPOLL_LOG_DIR", "/tmp"), log_name)
    boot: dict[str, Vm] = {}

    def boot_vm() -> str:
        boot["vm"] = Vm(kernel, initrd, log_path=log_path, **vm_options).__enter__()
        for banner in BANNERS.get(flavour or "", ()):
            assert banner in boot["vm"].console_log(), f"no '{banner}' at boot"
        return f"guest up ({boot['vm'].accel}, {flavour or 'release'}); console {log_path}"

    results.run(f"{label}: boot", boot_vm)
    vm = boot.get("vm")
    if vm is None:
        return
    try:
        for test in tests:
            name = test.__name__.removeprefix("test_").replace("_", " ")
            results.run(f"{label}: {name}", test, vm)
    finally:
        problems = vm.console_problems()
        vm.__exit__(None, None, None)
    results.record(f"{label}: no kernel warnings, oopses or lockdep/KASAN reports",
                   not problems, "\n".join(problems[:20]))
