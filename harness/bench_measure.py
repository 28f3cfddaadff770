"""One measured load run of the benchmark: the load generator's view (rate, latency, errors)
and the guest's (busy time, RX IRQs, NET_RX softirqs, kpoll counters) around it.

Guest busy time is `now − Σ idle_sleeptime` from `/proc/timer_list`: NO_HZ idle accounting in
nanoseconds, not tick samples. Under QEMU `-icount shift=0` a guest nanosecond of busy time is
one executed instruction, so busy time per request becomes guest instructions per request: a
cost that does not depend on how fast the host emulates. The busy-time reads are the last guest
command before the load and the first after it; every other read lies outside that window.
"""
from __future__ import annotations

import json
import re
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.guest_api import Guest

GUEST_ADDR = "10.213.0.2"
MEMCACHED_PORT = 11211
SERVER = f"{GUEST_ADDR}:{MEMCACHED_PORT}"
RX_IRQ = re.compile(r"virtio0-input")
KPOLL_NAME_COLUMNS = ("napi_id", "dev", "irq", "state")
SEPARATOR = "@@kpoll-bench@@"


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


@dataclass
class Counters:
    """Guest counters at one instant."""

    rx_irqs: int
    net_rx: int
    kpoll: dict[str, int] = field(default_factory=dict)


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

    @property
    def busy_per_req(self) -> float | None:
        """Guest busy ns per request: guest instructions per request under icount."""
        return self.busy_ns / self.requests if self.requests > 0 else None

    @property
    def irqs_per_req(self) -> float | None:
        return self.rx_irqs / self.requests if self.requests > 0 else None

    @property
    def net_rx_per_req(self) -> float | None:
        return self.net_rx / self.requests if self.requests > 0 else None


def read_busy(vm: Guest) -> tuple[int, int]:
    """(guest clock ns, busy ns summed over CPUs).

    A CPU's idle time is its `idle_sleeptime + iowait_sleeptime` in /proc/timer_list (NO_HZ
    idle accounting in nanoseconds). It is exact only on the CPU that reads it: that CPU runs
    the reader, so no idle period of its own is in progress, while another CPU may be idle right
    now and timer_list does not show since when. So each CPU reads its own line, pinned with
    `taskset`, and its busy time is that read's `now` minus its own idle time."""
    out = vm.check(
        "n=$(grep -c ^processor /proc/cpuinfo); i=0; while [ $i -lt $n ]; do "
        "echo @cpu $i; taskset -c $i grep -E '^now at|idle_sleeptime|iowait_sleeptime' "
        "/proc/timer_list; i=$((i+1)); done")
    first_now, busy = 0, 0
    blocks = out.split("@cpu ")[1:]
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
        raise RuntimeError(f"no CPU read /proc/timer_list: {out[:300]}")
    return first_now, busy


def read_counters(vm: Guest) -> Counters:
    """RX IRQs, NET_RX softirqs and the kpoll total line, in one guest command."""
    out = vm.check(f"cat /proc/interrupts; echo {SEPARATOR}; grep NET_RX /proc/softirqs; "
                   f"echo {SEPARATOR}; cat /proc/net/kpoll 2>/dev/null || true")
    irq_text, softirq_text, kpoll_text = out.split(SEPARATOR)
    rx = 0
    for line in irq_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 1 and fields[0].endswith(":") and RX_IRQ.search(fields[-1]):
            rx += sum(int(x) for x in fields[1:] if x.isdigit())
    net_rx = sum(int(x) for x in softirq_text.split()[1:] if x.isdigit())
    return Counters(rx, net_rx, parse_kpoll_total(kpoll_text))


def parse_kpoll_total(text: str) -> dict[str, int]:
    """The counters of /proc/net/kpoll's total line by column name ({} without the module)."""
    lines = text.strip().splitlines()
    if len(lines) < 3:
        return {}
    header = lines[1].split()
    total = next((ln.split() for ln in lines[2:] if ln.startswith("total ")), None)
    if total is None:
        return {}
    return {k: int(v) for k, v in zip(header, total, strict=False) if k not in KPOLL_NAME_COLUMNS}


def memcached_ops(vm: Guest) -> int:
    """cmd_get + cmd_set from memcached's `stats`, asked from the host namespace."""
    script = (
        "import socket\n"
        f"s=socket.create_connection(('{GUEST_ADDR}',{MEMCACHED_PORT}),timeout=20)\n"
        "s.sendall(b'stats\\r\\n')\n"
        "b=b''\n"
        "while not b.endswith(b'END\\r\\n'):\n"
        "    d=s.recv(65536)\n"
        "    if not d: break\n"
        "    b+=d\n"
        "print(b.decode())\n")
    proc = vm.host(["python3", "-c", script], timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"memcached stats failed: {proc.stderr[-500:]}")
    stats = dict(re.findall(r"^STAT (\S+) (\S+)", proc.stdout, re.MULTILINE))
    return int(stats["cmd_get"]) + int(stats["cmd_set"])


def loadgen(vm: Guest, exe: str, args: Sequence[str], duration: float,
            warmup: float) -> dict[str, Any]:
    """Runs kpoll-loadgen from the host namespace; its JSON summary, or {"failed": ...}."""
    argv = [exe, "--server", SERVER, "--threads", "1", "--duration", str(duration),
            "--warmup", str(warmup), "--no-preload", "--drain-timeout", "5", "--json", *args]
    proc = vm.host(argv, timeout=duration + warmup + 60)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        return {"failed": True, "exit": proc.returncode, "stderr": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(line)
    return result


def preload(vm: Guest, exe: str, etc: bool) -> None:
    """Sets every key once with the sizes of the coming runs (fixed, or Facebook ETC)."""
    sizes = ["--key-size", "fb_key", "--value-size", "fb_value"] if etc else []
    proc = vm.host([exe, "--server", SERVER, "--closed", "--connections", "1", "--duration",
                    "0.5", "--warmup", "0", "--json", *sizes], timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"preload failed: {proc.stderr[-1000:]}")


def measured_run(vm: Guest, exe: str, load: Load, base_rps: float, duration: float,
                 warmup: float) -> Run:
    """One load run with the guest's counters around it (busy time read innermost)."""
    before = read_counters(vm)
    ops0 = memcached_ops(vm)
    t0, busy0 = read_busy(vm)
    host0 = host_cpu(vm)
    lg = loadgen(vm, exe, load.argv(base_rps), duration, warmup)
    host1 = host_cpu(vm)
    t1, busy1 = read_busy(vm)
    ops1 = memcached_ops(vm)
    after = read_counters(vm)
    lat = lg.get("latency_us") or {}
    errors = lg.get("errors") or {}
    return Run(
        load=load.name, requests=ops1 - ops0, busy_ns=busy1 - busy0, elapsed_ns=t1 - t0,
        rx_irqs=after.rx_irqs - before.rx_irqs, net_rx=after.net_rx - before.net_rx,
        rate=lg.get("achieved_rps"), p50_us=lat.get("p50"), p99_us=lat.get("p99"),
        p999_us=lat.get("p99_9"), errors=int(errors.get("total", 0) if errors else 0),
        misses=int(lg.get("misses") or 0), failed=bool(lg.get("failed")),
        kpoll={k: v - before.kpoll.get(k, 0) for k, v in after.kpoll.items()},
        wall_s=host1[0] - host0[0], qemu_cpu_s=host1[1] - host0[1],
        loadgen_cpu_s=host1[2] - host0[2])


def host_cpu(vm: Guest) -> tuple[float, float, float]:
    """(host monotonic s, QEMU's CPU s, CPU s of this process's finished children: the load
    generator runs are the children that finish in a load's window)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic(), vm.qemu_cpu_seconds(), children.ru_utime + children.ru_stime


def idle_run(vm: Guest, seconds: float) -> Run:
    """Guest busy time over `seconds` without load."""
    before = read_counters(vm)
    t0, busy0 = read_busy(vm)
    vm.check(f"sleep {seconds}")
    t1, busy1 = read_busy(vm)
    after = read_counters(vm)
    return Run(load="idle", requests=0, busy_ns=busy1 - busy0, elapsed_ns=t1 - t0,
               rx_irqs=after.rx_irqs - before.rx_irqs, net_rx=after.net_rx - before.net_rx,
               rate=None, p50_us=None, p99_us=None, p999_us=None, errors=0, misses=0,
               failed=False, kpoll={k: v - before.kpoll.get(k, 0) for k, v in after.kpoll.items()})
