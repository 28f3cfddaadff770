"""Helpers shared by the VM suite and the demo: memcached, memcaslap and counters."""
import json
import os
import re
import subprocess
import time

from harness.procfs import read_cpu_jiffies, read_irq_counts

GUEST = "10.213.0.2"
MEMCACHED_PORT = 11211
RX_IRQ = "virtio0-input"
# memcached's listening socket in /proc/net/tcp: local port, any remote, state 0A (LISTEN).
LISTENING = f":{MEMCACHED_PORT:04X} 00000000:0000 0A"


# memcached writes its pid file after dropping to `nobody`, so it must go where nobody may
# write: in /run it was never written, stop_memcached() stopped nothing and every later
# start_memcached() silently kept the first instance (and its thread count).
def start_memcached(vm, threads=1):
    vm.check(f"memcached -u nobody -t {threads} -l {GUEST} -p {MEMCACHED_PORT} -c 4096 -d "
             "-P /tmp/memcached.pid")
    wait_for(lambda: vm.run(f"grep -q '{LISTENING}' /proc/net/tcp")[0] == 0,
             "memcached listening")


def stop_memcached(vm):
    vm.run("kill $(cat /tmp/memcached.pid) 2>/dev/null; "
           "while [ -e /proc/$(cat /tmp/memcached.pid 2>/dev/null)/status ]; do :; done; "
           "rm -f /tmp/memcached.pid")
    wait_for(lambda: vm.run(f"grep -q '{LISTENING}' /proc/net/tcp")[0] != 0,
             "memcached gone")


def wait_for(condition, what, timeout=30.0, interval=0.1):
    """Polls `condition` until it is true; raises AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def memcache_request(vm, payload: bytes, expect_end: bytes = b"END\r\n") -> bytes:
    """Sends one memcached text request from the host namespace and returns the reply."""
    script = (
        "import socket,sys\n"
        f"s=socket.create_connection(('{GUEST}',{MEMCACHED_PORT}),timeout=10)\n"
        f"s.sendall({payload!r})\n"
        "buf=b''\n"
        f"while not buf.endswith({expect_end!r}):\n"
        "    d=s.recv(65536)\n"
        "    if not d: break\n"
        "    buf+=d\n"
        "print(buf.hex())\n"
    )
    proc = vm.host(["python3", "-c", script], timeout=30)
    assert proc.returncode == 0, proc.stderr
    return bytes.fromhex(proc.stdout.strip())


def memcaslap_argv(seconds, *extra, concurrency=16, threads=1):
    return ["memcaslap", "-s", f"{GUEST}:{MEMCACHED_PORT}", "-T", str(threads),
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


def kpoll_counters(vm):
    """Parses /proc/net/kpoll into {'config': {...}, 'napis': [{...}], 'total': {...}}."""
    text = vm.check("cat /proc/net/kpoll")
    lines = text.strip().splitlines()
    # `ports=` runs to the end of the line (a space-separated list); the other pairs precede it.
    head, _, ports = lines[0].partition(" ports=")
    config = dict(kv.split("=", 1) for kv in head.split()[1:])
    config["ports"] = ports
    header = lines[1].split()
    rows = [dict(zip(header, line.split())) for line in lines[2:]]
    napis = [r for r in rows if r["napi_id"] != "total"]
    total = next(r for r in rows if r["napi_id"] == "total")
    return {"config": config, "napis": napis, "total": {k: v for k, v in total.items()}}


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


def build_loadgen():
    """Builds kpoll-loadgen (release, cached target dir); returns the executable's path."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cache = os.environ.get("KPOLL_CACHE") or os.path.expanduser("~/.cache/kpoll")
    target = os.path.join(cache, "tools-target")
    proc = subprocess.run(["cargo", "build", "--quiet", "--release", "--manifest-path",
                           os.path.join(root, "Cargo.toml"), "-p", "kpoll-loadgen",
                           "--target-dir", target], capture_output=True, text=True)
    assert proc.returncode == 0, f"building kpoll-loadgen failed: {proc.stderr[-2000:]}"
    return os.path.join(target, "release", "kpoll-loadgen")


def run_loadgen(vm, exe, *args, timeout=600):
    """Runs kpoll-loadgen against the guest's memcached; returns its JSON report."""
    argv = [exe, "--server", f"{GUEST}:{MEMCACHED_PORT}", "--json", *map(str, args)]
    proc = vm.host(argv, timeout=timeout)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    assert line, f"kpoll-loadgen exited {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(line)


def memcached_stats(vm):
    """memcached's own `stats` counters as {name: int} (non-numeric ones skipped)."""
    reply = memcache_request(vm, b"stats\r\n").decode()
    stats = {}
    for line in reply.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit():
            stats[parts[1]] = int(parts[2])
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
             "except ConnectionRefusedError:\n    raise SystemExit(0)\nraise SystemExit(1)\n" % GUEST)
    return vm.host(["python3", "-c", probe], timeout=10).returncode == 0
