"""The harness's failures: every one is a `VmError`, so a caller that only wants to know
whether the guest did its job catches that."""
from __future__ import annotations


class VmError(RuntimeError):
    """Any harness failure."""


class BootError(VmError):
    """The guest did not reach KPOLL-GUEST-READY (message has the console tail)."""


class GuestDied(VmError):
    """QEMU exited (panic, poweroff, crash) while the harness needed the guest."""


class CommandTimeout(VmError):
    """A guest command outlived its timeout; the guest-side command was killed."""

    def __init__(self, message: str, script: str, timeout: float) -> None:
        super().__init__(message)
        self.script = script
        self.timeout = timeout


class CommandError(VmError):
    """check() saw a non-zero exit status; .rc and .output hold the details."""

    def __init__(self, script: str, rc: int, output: str) -> None:
        super().__init__(f"guest command failed with status {rc}: {script.strip()[:200]!r}\n"
                         f"--- output ---\n{output.rstrip()}")
        self.script = script
        self.rc = rc
        self.output = output
