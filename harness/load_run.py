"""One measured load run, as the demo and the benchmark make it: the load generator's view
(rate, latency, errors) and the guest's (busy time, RX IRQs, NET_RX softirqs, kpoll counters;
harness.guest_metrics) around it.

The window opens after the load generator's warm-up, so that what happens while the load starts
(memcached's first batches, kpoll's admission still backing off from the preload's single
connection) counts neither in the latencies, which the load generator only records after its
warm-up, nor in the guest's counters. The load generator keeps warming up until the guest's
counters have been read (harness.loadgen.open_timed_run()), however long the reads take on a
busy host, and measures its `duration - warmup` seconds from there. The window closes when the
load generator has finished. The busy-time reads are the last guest command at the opening and
the first at the close; every other read lies outside them.

The request count is memcached's own (cmd_get + cmd_set), read in the same guest command as the
busy time, once just before it and once just after, and averaged (read_window_edge()). It was
read from the host before the busy-time command: the requests the still warming-up load got
served while that command ran (2-6 % of a window's requests in the committed result sets,
from memcached's count against the load generator's) were counted without their busy time.

The edge reads are themselves guest work, and part of it falls inside the window: what the
opening command does after its busy-time read and what the closing one does before its own
(agent, shell, fork and exec of grep, taskset and nc, /proc/timer_list). That is about 15
million instructions per window (11 for the busy-time read alone), the same at 1 s as at 3 s:
without load a window holds almost nothing else. At 1000 requests per window that was 15 000
instructions per request, a third of the open loops' cost. edge_busy_ns() measures it with
memcached running and idle (back-to-back edge reads, nothing between them); measured_run()
subtracts it from the window's busy time and records it (Run.edge_busy_ns).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from harness import procfs
from harness.guest_api import Guest
from harness.guest_metrics import BUSY_COMMAND, SEPARATOR, read_counters
from harness.host_cpu import process_cpu_seconds, reaped_children_cpu_seconds
from harness.loadgen import finish_timed_run, open_timed_run, start_timed_run
from harness.memcached import GUEST_STATS_COMMAND, parse_stats, requests_served


@dataclass(frozen=True)
class Load:
    """What the load generator is asked to do."""

    name: str
    connections: int
    closed: bool = True
    rate_fraction: float | None = None  # open loop: fraction of the boot's base rate
    depth: int = 1
    etc: bool = False  # Facebook ETC key/value sizes (and inter-arrivals when open loop)

    def argv(self, base_rps: float) -> list[str]:
        args = ["--connections", str(self.connections)]
        if self.closed:
            args.append("--closed")
            if self.depth > 1:
                args += ["--depth", str(self.depth)]
        else:
            assert self.rate_fraction is not None
            args += ["--rate", f"{self.rate_fraction * base_rps:.0f}"]
            if self.etc:
                args += ["--ia", "fb_ia"]
        if self.etc:
            args += ["--key-size", "fb_key", "--value-size", "fb_value"]
        return args


def instructions(busy_ns: float, shift: int) -> float:
    """The guest instructions in `busy_ns` of icount busy time (each advanced the guest's clock
    2^shift ns): the one conversion the runs and the report use."""
    return busy_ns / float(1 << shift)


@dataclass
class Run:
    """One load run with the guest's deltas around it."""

    load: str
    requests: int
    busy_ns: int
    elapsed_ns: int
    rx_irqs: int
    net_rx: int
    rate: float | None
    p50_us: float | None
    p99_us: float | None
    p999_us: float | None
    errors: int
    misses: int
    failed: bool
    kpoll: dict[str, int] = field(default_factory=dict)
    # Host side of the same window: wall time, and CPU time of QEMU and of the load generator.
    wall_s: float = 0.0
    qemu_cpu_s: float = 0.0
    loadgen_cpu_s: float = 0.0
    # Transmit-completion IRQs: virtio_net re-arms them at every transmit, except while kpoll
    # holds the queue pair's receive NAPI (patches/0002); upstream's mechanism keeps them.
    tx_irqs: int = 0
    # Requests served while the opening's busy time was read: the request count's uncertainty.
    edge_requests: int = 0
    # The edge reads' own busy time inside the window (edge_busy_ns()), already taken out of
    # busy_ns. 0: not measured (result sets from before; busy_ns then includes it).
    edge_busy_ns: int = 0
    # The boot's icount shift (a guest ns of busy time is 2^-shift instructions); None: no
    # icount, and result sets from before it was recorded (all of them ran shift=0).
    icount_shift: int | None = None

    @property
    def busy_per_req(self) -> float | None:
        """Guest busy ns per request."""
        return self.busy_ns / self.requests if self.requests > 0 else None

    @property
    def instructions_per_req(self) -> float | None:
        """Guest instructions per request (icount runs only)."""
        if self.icount_shift is None or self.requests <= 0:
            return None
        return instructions(self.busy_ns, self.icount_shift) / self.requests

    @property
    def irqs_per_req(self) -> float | None:
        return self.rx_irqs / self.requests if self.requests > 0 else None

    @property
    def net_rx_per_req(self) -> float | None:
        return self.net_rx / self.requests if self.requests > 0 else None


@dataclass(frozen=True)
class WindowEdge:
    """One end of a measured window: the guest clock, busy time and requests served at one
    instant; `spread` is what memcached served while the busy time was read."""

    clock_ns: int
    busy_ns: int
    requests: int
    spread: int


def read_window_edge(vm: Guest) -> WindowEdge:
    """Busy time and memcached's request count in one guest command: the count is read just
    before and just after the busy time and averaged, so that requests served while the busy
    time is read count about half, as their busy time does."""
    out = vm.check(f"{GUEST_STATS_COMMAND}; echo {SEPARATOR}; {BUSY_COMMAND}; "
                   f"echo {SEPARATOR}; {GUEST_STATS_COMMAND}")
    parts = out.split(SEPARATOR)
    if len(parts) != 3:
        raise RuntimeError(f"window edge: {len(parts)} parts, not 3: {out[:500]!r}")
    before, after = (requests_served(parse_stats(t, complete=True)) for t in (parts[0], parts[2]))
    if after < before:
        raise RuntimeError(f"window edge: memcached's count went back ({before} -> {after}); "
                           "was it restarted?")
    clock_ns, busy_ns = procfs.timer_list_busy(parts[1])
    return WindowEdge(clock_ns, busy_ns, (before + after) // 2, after - before)


# Back-to-back edge pairs per edge_busy_ns(): their busy times agree to a few per cent.
EDGE_PAIRS = 5


def edge_busy_ns(vm: Guest, pairs: int = EDGE_PAIRS) -> int:
    """The busy time a window holds of its own edge reads: the median over `pairs` pairs of
    read_window_edge() with nothing between them. memcached must be running, without load."""
    spans = []
    for _ in range(pairs):
        first = read_window_edge(vm)
        spans.append(read_window_edge(vm).busy_ns - first.busy_ns)
    return int(statistics.median(spans))


def measured_run(vm: Guest, exe: str, load: Load, base_rps: float, duration: float,
                 warmup: float, edge_ns: int) -> Run:
    """One load run with the guest's counters around its measured part (see the module
    documentation); `edge_ns` is edge_busy_ns() of this guest and configuration."""
    proc = start_timed_run(vm, exe, load.argv(base_rps), duration, warmup)
    time.sleep(warmup)
    before = read_counters(vm)
    start = read_window_edge(vm)
    # The load generator is reaped in finish_timed_run(), so the reaped children's CPU grows by
    # its whole run there; what it used before this point is its own count now.
    wall0, qemu0 = time.monotonic(), vm.qemu_cpu_seconds()
    reaped0, loadgen0 = reaped_children_cpu_seconds(), process_cpu_seconds(proc.pid)
    open_timed_run(proc)
    lg = finish_timed_run(proc, duration + warmup + 60)
    wall1, qemu1 = time.monotonic(), vm.qemu_cpu_seconds()
    loadgen1 = reaped_children_cpu_seconds() - reaped0
    end = read_window_edge(vm)
    after = read_counters(vm)
    lat = lg.get("latency_us") or {}
    errors = lg.get("errors") or {}
    return Run(
        load=load.name, requests=end.requests - start.requests,
        busy_ns=end.busy_ns - start.busy_ns - edge_ns, elapsed_ns=end.clock_ns - start.clock_ns,
        rx_irqs=after.rx_irqs - before.rx_irqs, net_rx=after.net_rx - before.net_rx,
        rate=lg.get("achieved_rps"), p50_us=lat.get("p50"), p99_us=lat.get("p99"),
        p999_us=lat.get("p99_9"), errors=int(errors.get("total", 0) if errors else 0),
        misses=int(lg.get("misses") or 0), failed=bool(lg.get("failed")),
        kpoll={k: v - before.kpoll.get(k, 0) for k, v in after.kpoll.items()},
        wall_s=wall1 - wall0, qemu_cpu_s=qemu1 - qemu0, loadgen_cpu_s=loadgen1 - loadgen0,
        tx_irqs=after.tx_irqs - before.tx_irqs, edge_requests=start.spread, edge_busy_ns=edge_ns,
        icount_shift=vm.icount_shift)


def idle_run(vm: Guest, seconds: float, edge_ns: int) -> Run:
    """Guest busy time over `seconds` without load, between the same edge reads as a load
    run's (their own busy time `edge_ns` taken out; the `sleep` command's stays in)."""
    before = read_counters(vm)
    start = read_window_edge(vm)
    vm.check(f"sleep {seconds}")
    end = read_window_edge(vm)
    after = read_counters(vm)
    return Run(load="idle", requests=0, busy_ns=end.busy_ns - start.busy_ns - edge_ns,
               elapsed_ns=end.clock_ns - start.clock_ns, edge_busy_ns=edge_ns,
               rx_irqs=after.rx_irqs - before.rx_irqs, net_rx=after.net_rx - before.net_rx,
               rate=None, p50_us=None, p99_us=None, p999_us=None, errors=0, misses=0,
               failed=False, kpoll={k: v - before.kpoll.get(k, 0) for k, v in after.kpoll.items()},
               tx_irqs=after.tx_irqs - before.tx_irqs, icount_shift=vm.icount_shift)
