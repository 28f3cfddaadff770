"""The test suites' guest helpers: memcaslap loads with their RX IRQ and CPU deltas, the module
and its knobs. memcached itself, kpoll-loadgen, kpoll's counters (kpollctl status --json) and
waiting are in the harness (harness.memcached, harness.loadgen, harness.kpoll_status,
harness.wait), shared with the demo and the benchmark."""
import re
import subprocess

from harness.memcached import SERVER
from harness.netns import GUEST_IP
from harness.procfs import RX_IRQ, read_cpu_jiffies, read_irq_counts


def memcaslap_argv(seconds, *extra, concurrency=16, threads=1):
    return ["memcaslap", "-s", SERVER, "-T", str(threads),
            "-c", str(concurrency), "-t", f"{seconds}s", *extra]


def memcaslap_background(vm, seconds, *extra, **popen_options):
    """Starts memcaslap (1 thread, 16 connections) from the host namespace; returns the Popen.
    Its output goes nowhere unless `popen_options` say otherwise."""
    popen_options.setdefault("stdout", subprocess.DEVNULL)
    popen_options.setdefault("stderr", subprocess.DEVNULL)
    return vm.host_popen(memcaslap_argv(seconds, *extra), **popen_options)


def memcaslap(vm, seconds=5, concurrency=16, threads=1, extra=()):
    """Runs memcaslap from the host namespace; returns a dict of its counters."""
    cmd = memcaslap_argv(seconds, "-v", "0.1", *extra, concurrency=concurrency, threads=threads)
    proc = vm.host(cmd, timeout=seconds + 60)
    out = proc.stdout if isinstance(proc.stdout, str) else proc.stdout.decode()
    assert proc.returncode == 0, f"memcaslap failed: {out[-2000:]} {proc.stderr}"
    stats = {}
    for key in ("cmd_get", "cmd_set", "get_misses", "verify_misses", "verify_failed"):
        m = re.search(rf"^{key}: (\d+)", out, re.M)
        stats[key] = int(m.group(1)) if m else None
    m = re.search(r"Ops: (\d+) TPS: (\d+)", out)
    assert m, f"no totals in memcaslap output: {out[-1000:]}"
    stats["ops"], stats["tps"] = int(m.group(1)), int(m.group(2))
    return stats


def rx_irqs(vm):
    return sum(read_irq_counts(vm, RX_IRQ).values())


def measure_load(vm, seconds=5, concurrency=16):
    """memcaslap run with the RX IRQ and CPU deltas around it."""
    irq0, cpu0 = rx_irqs(vm), read_cpu_jiffies(vm)
    stats = memcaslap(vm, seconds=seconds, concurrency=concurrency)
    irq1, cpu1 = rx_irqs(vm), read_cpu_jiffies(vm)
    stats["rx_irqs"] = irq1 - irq0
    stats["irqs_per_req"] = stats["rx_irqs"] / max(stats["ops"], 1)
    stats["busy_jiffies"] = cpu1[0] - cpu0[0]
    stats["busy_per_1k"] = 1000.0 * stats["busy_jiffies"] / max(stats["ops"], 1)
    return stats


def insmod(vm):
    vm.check("insmod /lib/kpoll/kpoll.ko")


def rmmod(vm):
    vm.run("rmmod kpoll")


def knob(vm, name):
    return vm.check(f"cat /proc/sys/net/kpoll/{name}").strip()


def set_knob(vm, name, value):
    """Writes a knob; returns (rc, output) of the write."""
    return vm.run(f"echo -n '{value}' > /proc/sys/net/kpoll/{name}")


def guest_answers(vm):
    """A TCP connect to a closed guest port is refused: one round trip through the RX queue."""
    probe = ("import socket\ntry:\n    socket.create_connection(('%s', 9), timeout=2)\n"
             "except ConnectionRefusedError:\n    raise SystemExit(0)\nraise SystemExit(1)\n" % GUEST_IP)
    return vm.host(["python3", "-c", probe], timeout=10).returncode == 0
