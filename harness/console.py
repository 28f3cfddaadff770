"""The guest's console (ttyS0), logged to a file: what counts as a kernel problem on it.

PROBLEM_RE matches the first line of every report the kernel's checkers make (WARN, BUG,
oops, lockdep, RCU, KASAN, UBSAN, ODEBUG, list and refcount debugging) and none of a debug
kernel's boot banners; tests/host_suite.py checks both against sample lines.
"""
from __future__ import annotations

import os
import re
import time

PROBLEM_PATTERNS = [
    r"WARNING:",
    r"(?<!ODE)BUG:",
    r"Oops",
    r"Kernel panic",
    r"general protection fault",
    r"KASAN",
    r"UBSAN",
    r"possible circular locking",
    r"possible recursive locking",
    r"possible irq lock inversion",
    r"inconsistent lock state",
    r"DEBUG_LOCKS_WARN_ON",
    r"turning off the locking correctness validator",
    r"ODEBUG: (?!selftest passed)",
    r"suspicious RCU usage",
    r"INFO: task .* blocked",
    r"rcu_sched self-detected stall",
    r"RCU stall",
    r"sleeping function called from invalid context",
    r"list_add corruption",
    r"list_del corruption",
    r"detected stalls",
    r"refcount_t:",
]
PROBLEM_RE = re.compile("|".join(PROBLEM_PATTERNS))


def read(path: str) -> str:
    """The whole log so far ("" when there is none yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def problems(text: str, benign: re.Pattern[str] | None = None) -> list[str]:
    """Lines that look like kernel reports (PROBLEM_RE), except those `benign` matches."""
    return [line.strip() for line in text.splitlines()
            if PROBLEM_RE.search(line) and not (benign and benign.search(line))]


def prune_logs(folder: str, keep: int = 30, min_age: float = 86400) -> None:
    """Delete console logs in `folder` beyond the newest `keep` that are over a day old."""
    try:
        entries = sorted((os.path.join(folder, n) for n in os.listdir(folder)),
                         key=os.path.getmtime, reverse=True)
        now = time.time()
        for path in entries[keep:]:
            if now - os.path.getmtime(path) > min_age:
                os.unlink(path)
    except OSError:
        pass
