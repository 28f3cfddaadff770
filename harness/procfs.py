"""The guest's /proc files that the tests and the benchmark count with, parsed on the host.

Parsers take the file's text (so they can be checked against captured files without a guest);
the `read_*` functions run one guest command each and parse its output.
"""
from __future__ import annotations

import re

from harness.errors import VmError
from harness.guest_api import Guest

RX_IRQ = "virtio0-input"  # the guest NIC's receive-queue IRQs (one per queue)
TX_IRQ = "virtio0-output"  # its transmit-completion IRQs (left off while kpoll holds the pair)


def irq_counts(text: str, pattern: str = RX_IRQ) -> dict[str, int]:
    """{irq name: count summed over CPUs} for the /proc/interrupts lines whose name (last
    column) matches the regex `pattern`, e.g. {"virtio0-input.0": 1234}. The number of CPU
    columns is taken from the header line."""
    lines = text.splitlines()
    ncpu = len(lines[0].split()) if lines else 0
    rx = re.compile(pattern)
    result: dict[str, int] = {}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 2 or not fields[0].endswith(":"):
            continue
        name = fields[-1]
        if not rx.search(name):
            continue
        counts = [int(x) for x in fields[1:1 + ncpu] if x.isdigit()]
        result[name] = result.get(name, 0) + sum(counts)
    return result


def cpu_jiffies(text: str) -> tuple[int, int]:
    """(busy, total) jiffies from /proc/stat's first line, `cpu` (all CPUs)."""
    first = text.split("\n", 1)[0].split()
    if not first or first[0] != "cpu":
        raise VmError(f"unexpected /proc/stat: {first}")
    v = [int(x) for x in first[1:]]
    v += [0] * (8 - len(v))
    total = sum(v[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - v[3] - v[4], total


def read_irq_counts(vm: Guest, pattern: str = RX_IRQ) -> dict[str, int]:
    """irq_counts() of the guest's /proc/interrupts now."""
    return irq_counts(vm.check("cat /proc/interrupts"), pattern)


def read_cpu_jiffies(vm: Guest) -> tuple[int, int]:
    """cpu_jiffies() of the guest's /proc/stat now."""
    return cpu_jiffies(vm.check("head -n1 /proc/stat"))


def timer_list_busy(text: str) -> tuple[int, int]:
    """(guest clock ns, busy ns summed over CPUs) from per-CPU reads of /proc/timer_list.

    `text` holds one block per CPU, `@cpu N` and then the `now at`, `idle_sleeptime` and
    `iowait_sleeptime` lines that CPU read itself (harness.guest_metrics.BUSY_COMMAND). A CPU's
    idle time is its `idle_sleeptime + iowait_sleeptime` (NO_HZ idle accounting in
    nanoseconds); its busy time is its own read's `now` minus that."""
    first_now, busy = 0, 0
    blocks = text.split("@cpu ")[1:]
    for block in blocks:
        cpu = int(block.split()[0])
        m = re.search(r"now at (\d+) nsecs", block)
        slept = [int(x) for x in re.findall(r"(?:idle|iowait)_sleeptime\s*:\s*(\d+)", block)]
        if not m or len(slept) != 2 * len(blocks):
            raise RuntimeError(f"unexpected /proc/timer_list: {block[:300]}")
        now = int(m.group(1))
        first_now = first_now or now
        busy += now - slept[2 * cpu] - slept[2 * cpu + 1]
    if not blocks:
        raise RuntimeError(f"no CPU read /proc/timer_list: {text[:300]}")
    return first_now, busy


def net_rx_softirqs(line: str) -> int:
    """NET_RX softirqs summed over CPUs, from /proc/softirqs' NET_RX line."""
    return sum(int(x) for x in line.split()[1:] if x.isdigit())
