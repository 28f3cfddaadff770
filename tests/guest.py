"""Helpers shared by the VM suite and the demo: memcached, memcaslap and counters."""
import re
import socket
import subprocess
import time

GUEST = "10.213.0.2"
MEMCACHED_PORT = 11211
RX_IRQ = "virtio0-input"


def start_memcached(vm, threads=1):
    vm.check(f"memcached -u nobody -t {threads} -l {GUEST} -p {MEMCACHED_PORT} -c 4096 -d "
             "-P /run/memcached.pid")
    wait_for(lambda: vm.run(f"grep -q ':{MEMCACHED_PORT:04X} ' /proc/net/tcp")[0] == 0,
             "memcached listening")


def stop_memcached(vm):
    vm.run("kill $(cat /run/memcached.pid) 2>/dev/null; "
           "while [ -e /proc/$(cat /run/memcached.pid 2>/dev/null)/status ]; do :; done; "
           "rm -f /run/memcached.pid")


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


def memcaslap(vm, seconds=5, concurrency=16, threads=1, extra=()):
    """Runs memcaslap from the host namespace; returns a dict of its counters."""
    cmd = ["memcaslap", "-s", f"{GUEST}:{MEMCACHED_PORT}", "-T", str(threads),
           "-c", str(concurrency), "-t", f"{seconds}s", "-v", "0.1", *extra]
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
    return sum(vm.interrupts(RX_IRQ).values())


def kpoll_counters(vm):
    """Parses /proc/net/kpoll into {'config': {...}, 'napis': [{...}], 'total': {...}}."""
    text = vm.check("cat /proc/net/kpoll")
    lines = text.strip().splitlines()
    config = dict(kv.split("=", 1) for kv in lines[0].split()[1:])
    header = lines[1].split()
    rows = [dict(zip(header, line.split())) for line in lines[2:]]
    napis = [r for r in rows if r["napi_id"] != "total"]
    total = next(r for r in rows if r["napi_id"] == "total")
    return {"config": config, "napis": napis, "total": {k: v for k, v in total.items()}}


def measure_load(vm, seconds=5, concurrency=16):
    """memcaslap run with the RX IRQ and CPU deltas around it."""
    irq0, cpu0 = rx_irqs(vm), vm.cpu_jiffies()
    stats = memcaslap(vm, seconds=seconds, concurrency=concurrency)
    irq1, cpu1 = rx_irqs(vm), vm.cpu_jiffies()
    stats["rx_irqs"] = irq1 - irq0
    stats["irqs_per_req"] = stats["rx_irqs"] / max(stats["ops"], 1)
    stats["busy_jiffies"] = cpu1[0] - cpu0[0]
    stats["busy_per_1k"] = 1000.0 * stats["busy_jiffies"] / max(stats["ops"], 1)
    return stats
