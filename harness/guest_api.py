"""The part of harness.vm's `Vm` that the measuring modules use, as a typing Protocol: they
work with any guest that runs commands (and can be checked with a fake one), and do not
import QEMU's lifecycle."""
from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any, Protocol


class Guest(Protocol):
    accel: str
    vcpus: int
    queues: int
    icount: bool
    icount_option: str  # QEMU's -icount value; "" without icount
    icount_shift: int | None  # a guest ns of busy time is 2^-shift instructions; None: no icount

    def check(self, script: str, timeout: float | None = None) -> str: ...

    def run(self, script: str, timeout: float | None = None) -> tuple[int, str]: ...

    def host(self, cmd: Sequence[str], timeout: float = 60, check: bool = False,
             input: str | None = None) -> subprocess.CompletedProcess[str]: ...

    def host_popen(self, cmd: str | Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]: ...

    def alive(self) -> bool: ...

    def qemu_cpu_seconds(self) -> float: ...
