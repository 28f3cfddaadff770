"""The guest's counters around a load run: busy time, RX and TX IRQs, NET_RX softirqs and
kpoll's.

Guest busy time is `now − Σ idle_sleeptime` from `/proc/timer_list`: NO_HZ idle accounting in
nanoseconds, not tick samples. Under QEMU `-icount shift=0` a guest nanosecond of busy time is
one executed instruction, so busy time per request becomes guest instructions per request: a
cost that does not depend on how fast the host emulates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness import procfs
from harness.guest_api import Guest
from harness.kpoll_status import STATUS_COMMAND, parse_status

SEPARATOR = "@@kpoll-bench@@"
# The guest command whose output procfs.timer_list_busy() reads: (guest clock ns, busy ns summed
# over CPUs). A CPU's idle time in /proc/timer_list is exact only on the CPU that reads it: that
# CPU runs the reader, so no idle period of its own is in progress, while another CPU may be
# idle right now and timer_list does not show since when. So each CPU reads its own line,
# pinned with `taskset`. harness.load_run.read_window_edge() runs it.
BUSY_COMMAND = ("n=$(grep -c ^processor /proc/cpuinfo); i=0; while [ $i -lt $n ]; do "
                "echo @cpu $i; taskset -c $i grep -E '^now at|idle_sleeptime|iowait_sleeptime' "
                "/proc/timer_list; i=$((i+1)); done")


@dataclass
class CounterSnapshot:
    """The guest's counters at one instant (a load run takes their difference)."""

    rx_irqs: int
    net_rx: int
    kpoll: dict[str, int] = field(default_factory=dict)
    tx_irqs: int = 0


def read_counters(vm: Guest) -> CounterSnapshot:
    """RX and TX IRQs, NET_RX softirqs and kpoll's cumulative counters (none without the module), in
    one guest command."""
    out = vm.check(f"cat /proc/interrupts; echo {SEPARATOR}; grep NET_RX /proc/softirqs; "
                   f"echo {SEPARATOR}; {STATUS_COMMAND} 2>/dev/null || true")
    irq_text, softirq_text, kpoll_text = out.split(SEPARATOR)
    rx = sum(procfs.irq_counts(irq_text, procfs.RX_IRQ).values())
    kpoll = parse_status(kpoll_text).counters() if kpoll_text.strip() else {}
    tx = sum(procfs.irq_counts(irq_text, procfs.TX_IRQ).values())
    return CounterSnapshot(rx, procfs.net_rx_softirqs(softirq_text), kpoll, tx)

