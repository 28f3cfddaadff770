"""Waiting for a guest condition with a deadline."""
from __future__ import annotations

import time
from collections.abc import Callable


class WaitTimeout(AssertionError):
    """A condition did not become true in time. An AssertionError, so that a test that waits
    for its guest fails as an assertion does (tests/tap.py reports those without a
    traceback)."""


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0,
             interval: float = 0.1) -> None:
    """Polls `condition` until it is true; raises WaitTimeout naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise WaitTimeout(f"timed out waiting for {what}")
