"""TAP-style result lines and the closing 'N passed, N failed' count."""
from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.number = 0

    def record(self, name: str, ok: bool, detail: object = "") -> None:
        self.number += 1
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'ok' if ok else 'not ok'} {self.number} - {name}", flush=True)
        for line in str(detail).rstrip().splitlines():
            print(f"#   {line}", flush=True)

    def run(self, name: str, fn: Callable[..., T], *args: Any) -> T | None:
        """Runs fn(*args); an exception or AssertionError is a failure. Returns fn's value."""
        start = time.monotonic()
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            detail = "".join(traceback.format_exception_only(type(exc), exc))
            if not isinstance(exc, AssertionError):
                detail += traceback.format_exc(limit=3)
            self.record(name, False, detail)
            return None
        took = time.monotonic() - start
        note = value if isinstance(value, str) else ""
        self.record(name, True, f"{note} ({took:.1f} s)".strip())
        return value

    def summary(self) -> int:
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 else 1


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stdout, flush=True)
