"""The guest echo server (tools/ kpoll-echo) and the host-side programs that talk to it.

The client programs run in the harness's network namespace (`vm.host`, `vm.host_popen`) and
check every byte they get back."""
from __future__ import annotations

import subprocess
from typing import Any

from harness.netns import GUEST_IP as GUEST
from harness.vm import Vm
from harness.wait import wait_for

ECHO_CLIENT = r"""
import os, resource, selectors, signal, socket, sys
# Closed loop, one request in flight per connection: the next is sent when the echo is back.
# Prints "done bad"; on SIGTERM "done bad stopped" (exit 0); "done bad closed" (exit 3) when
# the server closed a connection.
host, port, conns, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
sel = selectors.DefaultSelector()
state = {}
sent = done = bad = 0
signal.signal(signal.SIGTERM, lambda *_: (print(done, bad, "stopped", flush=True), os._exit(0)))
for i in range(conns):
    s = socket.create_connection((host, port), timeout=20)
    s.setblocking(False)
    state[s] = [b"", b""]
    sel.register(s, selectors.EVENT_READ)
def send(s):
    global sent
    msg = b"echo %08d\n" % sent
    sent += 1
    state[s] = [msg, b""]
    s.sendall(msg)
for s in list(state):
    send(s)
while done < total:
    events = sel.select(timeout=30)
    if not events:
        sys.exit("no echo for 30 s")
    for key, _ in events:
        s = key.fileobj
        want, got = state[s]
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        if not data:
            print(done, bad, "closed")
            sys.exit(3)
        got += data
        state[s][1] = got
        if len(got) >= len(want):
            bad += got != want
            done += 1
            if sent < total:
                send(s)
print(done, bad)
"""

# Exit status of ECHO_CLIENT when the server closed a connection.
CLIENT_SAW_CLOSE = 3

PING_PROBE = r"""
import signal, socket, sys, time
# One connection, one small echo every 5 ms until SIGTERM; prints "count worst_ms bad".
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
count = bad = 0
worst = 0.0
while not stop:
    msg = b"ping %06d\n" % count
    t0 = time.monotonic()
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        try:
            data = s.recv(64)
        except InterruptedError:
            continue
        if not data:
            sys.exit("connection closed")
        got += data
    worst = max(worst, time.monotonic() - t0)
    bad += got != msg
    count += 1
    time.sleep(0.005)
print(count, round(worst * 1000, 1), bad)
"""


def echo_load(vm: Vm, port: int, conns: int = 32, requests: int = 20000,
              address: str = GUEST) -> int:
    proc = vm.host(["python3", "-c", ECHO_CLIENT, address, str(port), str(conns), str(requests)],
                   timeout=300)
    assert proc.returncode == 0, proc.stderr or proc.stdout
    total, bad = map(int, proc.stdout.split()[:2])
    assert bad == 0, f"{bad} wrong echoes"
    return total


def echo_client(vm: Vm, port: int, conns: int, requests: int,
                **kwargs: Any) -> subprocess.Popen[str]:
    """Starts ECHO_CLIENT in the background; returns the Popen (text stdout/stderr)."""
    return vm.host_popen(["python3", "-c", ECHO_CLIENT, GUEST, str(port), str(conns),
                          str(requests)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, **kwargs)


def start_echo(vm: Vm, args: str, log: str = "/tmp/echo.log", prefix: str = "") -> None:
    """Starts kpoll-echo ARGS in the guest, under `prefix` (e.g. an nsenter command) if given."""
    vm.check(f"({prefix} kpoll-echo {args} > {log} 2>&1 &)")
    wait_for(lambda: "READY" in vm.run(f"cat {log}")[1], "kpoll-echo READY")


def echo_log(vm: Vm, log: str = "/tmp/echo.log") -> str:
    return vm.run(f"cat {log}")[1]


def stop_echo(vm: Vm, keep: str | None = None) -> None:
    """Stops every kpoll-echo, or every one but the process `keep` (a PID), and waits."""
    if keep is None:
        vm.run("killall kpoll-echo; while pidof kpoll-echo >/dev/null; do :; done")
        return
    vm.run(f"for p in $(pidof kpoll-echo); do [ $p = {keep} ] || kill $p; done; "
           f"while [ \"$(pidof kpoll-echo)\" != {keep} ]; do :; done")
