"""The test suites' guest helpers: memcaslap loads with their RX IRQ and CPU deltas, the module
and its knobs. memcached itself, kpoll-loadgen, kpoll's counters (kpollctl status --json) and
waiting are in the harness (harness.memcached, harness.loadgen, harness.kpoll_status,
harness.wait), shared with the demo and the benchmark."""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from harness.bench_configs import KPOLL_MODULE
from harness.kpoll_status import kpoll_report
from harness.memcached import SERVER
from harness.netns import GUEST_IP
from harness.procfs import RX_IRQ, TX_IRQ, irq_counts, read_cpu_jiffies, read_irq_counts
from harness.vm import Vm
from harness.wait import wait_for

# memcaslap's counters that a run reports (None when its output lacks one).
MEMCASLAP_COUNTERS = ("cmd_get", "cmd_set", "get_misses", "verify_misses", "verify_failed")


@dataclass
class MemcaslapRun:
    """One memcaslap run; measure_load() adds the guest's RX and TX IRQs and busy jiffies over
    it."""

    ops: int
    tps: int
    cmd_get: int | None
    cmd_set: int | None
    get_misses: int | None
    verify_misses: int | None
    verify_failed: int | None
    rx_irqs: int = 0
    busy_jiffies: int = 0
    tx_irqs: int = 0

    @property
    def irqs_per_req(self) -> float:
        return self.rx_irqs / max(self.ops, 1)

    @property
    def tx_irqs_per_req(self) -> float:
        return self.tx_irqs / max(self.ops, 1)

    @property
    def busy_per_1k(self) -> float:
        return 1000.0 * self.busy_jiffies / max(self.ops, 1)


def memcaslap_argv(seconds: int, *extra: str, concurrency: int = 16,
                   threads: int = 1) -> list[str]:
    return ["memcaslap", "-s", SERVER, "-T", str(threads),
            "-c", str(concurrency), "-t", f"{seconds}s", *extra]


def memcaslap_background(vm: Vm, seconds: int, *extra: str,
                         **popen_options: Any) -> subprocess.Popen[Any]:
    """Starts memcaslap (1 thread, 16 connections) from the host namespace; returns the Popen.
    Its output goes nowhere unless `popen_options` say otherwise."""
    popen_options.setdefault("stdout", subprocess.DEVNULL)
    popen_options.setdefault("stderr", subprocess.DEVNULL)
    return vm.host_popen(memcaslap_argv(seconds, *extra), **popen_options)


def memcaslap(vm: Vm, seconds: int = 5, concurrency: int = 16, threads: int = 1,
              extra: tuple[str, ...] = ()) -> MemcaslapRun:
    """Runs memcaslap from the host namespace; returns its counters."""
    cmd = memcaslap_argv(seconds, "-v", "0.1", *extra, concurrency=concurrency, threads=threads)
    proc = vm.host(cmd, timeout=seconds + 60)
    out = proc.stdout
    assert proc.returncode == 0, f"memcaslap failed: {out[-2000:]} {proc.stderr}"
    counters: dict[str, int | None] = {}
    for key in MEMCASLAP_COUNTERS:
        m = re.search(rf"^{key}: (\d+)", out, re.M)
        counters[key] = int(m.group(1)) if m else None
    m = re.search(r"Ops: (\d+) TPS: (\d+)", out)
    assert m, f"no totals in memcaslap output: {out[-1000:]}"
    return MemcaslapRun(ops=int(m.group(1)), tps=int(m.group(2)), cmd_get=counters["cmd_get"],
                        cmd_set=counters["cmd_set"], get_misses=counters["get_misses"],
                        verify_misses=counters["verify_misses"],
                        verify_failed=counters["verify_failed"])


def rx_irqs(vm: Vm) -> int:
    return sum(read_irq_counts(vm, RX_IRQ).values())


def rx_tx_irqs(vm: Vm) -> tuple[int, int]:
    """RX and TX IRQ totals from one read of /proc/interrupts."""
    text = vm.check("cat /proc/interrupts")
    return sum(irq_counts(text, RX_IRQ).values()), sum(irq_counts(text, TX_IRQ).values())


def measure_load(vm: Vm, seconds: int = 5, concurrency: int = 16) -> MemcaslapRun:
    """memcaslap run with the RX and TX IRQ and CPU deltas around it."""
    (irq0, tx0), cpu0 = rx_tx_irqs(vm), read_cpu_jiffies(vm)
    run = memcaslap(vm, seconds=seconds, concurrency=concurrency)
    (irq1, tx1), cpu1 = rx_tx_irqs(vm), read_cpu_jiffies(vm)
    run.rx_irqs = irq1 - irq0
    run.tx_irqs = tx1 - tx0
    run.busy_jiffies = cpu1[0] - cpu0[0]
    return run


def tx_inflight_bytes(vm: Vm) -> int:
    """Bytes the NIC's send queues were given and have not yet reported done (BQL's inflight,
    summed over the queues): 0 once every transmitted buffer has been reaped."""
    out = vm.check("cat /sys/class/net/eth0/queues/tx-*/byte_queue_limits/inflight")
    return sum(int(v) for v in out.split())


def insmod(vm: Vm, module: str = KPOLL_MODULE) -> None:
    vm.check(f"insmod {module}")


def rmmod(vm: Vm) -> None:
    vm.run("rmmod kpoll")


# What the module's knobs read right after insmod (as the sysctl shows them).
KNOB_DEFAULTS = {"enabled": "1", "ports": "", "watchdog_us": "50000", "budget": "64"}


def knob(vm: Vm, name: str) -> str:
    return vm.check(f"cat /proc/sys/net/kpoll/{name}").strip()


def knob_command(name: str, value: object) -> str:
    """The guest shell command that writes a knob."""
    return f"echo -n '{value}' > /proc/sys/net/kpoll/{name}"


def set_knob(vm: Vm, name: str, value: object) -> tuple[int, str]:
    """Writes a knob; returns (rc, output) of the write."""
    return vm.run(knob_command(name, value))


# A TCP connect to port 9 of the guest, closed: refused when the guest answers.
_ANSWERS_PROBE = ("import socket\ntry:\n    socket.create_connection(('{guest}', 9), timeout=2)\n"
                  "except ConnectionRefusedError:\n    raise SystemExit(0)\nraise SystemExit(1)\n")


def guest_answers(vm: Vm) -> bool:
    """A TCP connect to a closed guest port is refused: one round trip through the RX queue."""
    probe = _ANSWERS_PROBE.format(guest=GUEST_IP)
    return vm.host(["python3", "-c", probe], timeout=10).returncode == 0


def wait_new_holds(vm: Vm, old: set[int], what: str, timeout: float = 60) -> None:
    """Waits until kpoll has held a NAPI that is not in `old` (its `suspensions` counter is
    above 0). A count, not a look at the current state: where holds poll little (a slow host)
    kpoll's admission makes them rare and a few milliseconds long, and a poll of the state
    through `kpollctl` can miss every one."""
    wait_for(lambda: any(n.napi_id not in old and n.counters.get("suspensions", 0) > 0
                         for n in kpoll_report(vm).napis),
             f"a hold on a new NAPI {what}", timeout, 0.2)


# Trial counts of the fault tests scale with KPOLL_SOAK (default 1; `make soak` raises it).
SOAK = max(1, int(os.environ.get("KPOLL_SOAK", "1")))


def total(vm: Vm, name: str) -> int:
    return int(kpoll_report(vm).total[name])


def held_queues(vm: Vm) -> list[int]:
    return kpoll_report(vm).held()


def wait_no_hold(vm: Vm, what: str, timeout: float = 10) -> None:
    wait_for(lambda: not held_queues(vm), f"no held queue {what}", timeout, 0.05)


def assert_irqs_return(vm: Vm) -> None:
    """The RX queue is interrupt-driven again: three round trips raise RX IRQs."""
    irq0 = rx_irqs(vm)
    assert all(guest_answers(vm) for _ in range(3)), "the guest does not answer"
    assert rx_irqs(vm) >= irq0 + 3, f"RX IRQs for 3 round trips: {rx_irqs(vm) - irq0}"
