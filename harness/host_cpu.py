"""Host CPU time of processes the harness runs (QEMU, the load generator), in seconds."""
from __future__ import annotations

import os
import resource


def process_cpu_seconds(pid: int) -> float:
    """User + system time (all threads) a host process has used so far; readable until it is
    reaped."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reaped_children_cpu_seconds() -> float:
    """User + system time of this process's children that have been waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime
