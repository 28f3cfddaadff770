"""The network namespace each guest lives in.

A namespace `kpoll-<pid>` (`kpoll-<pid>-<n>` for further concurrent guests of the same
process) holds tap0 = 10.213.0.1/24; the guest's first virtio NIC is 10.213.0.2/24. Nothing is
routed out of the namespace. QEMU and the host-side load run inside it. Namespaces left behind
by processes that died are removed by `cleanup_stale_namespaces`.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from harness.env import log
from harness.errors import VmError

HOST_IP = "10.213.0.1"
GUEST_IP = "10.213.0.2"
TAP = "tap0"
GUEST_MAC = "52:54:00:12:34:56"  # the guest NIC's address (harness.vm)
_NS_RE = re.compile(r"kpoll-(\d+)(?:-\d+)?")

# Names handed out by this process and not yet deleted (several guests may start at once).
_lock = threading.Lock()
_in_use: set[str] = set()


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=check)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def delete_namespace(ns: str) -> None:
    """Kill every process inside `ns`, remove its tap device and the namespace itself."""
    for _ in range(3):
        pids = [int(p) for p in ip("netns", "pids", ns, check=False).stdout.split()
                if p.isdigit()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    ip("-n", ns, "link", "del", TAP, check=False)
    ip("netns", "del", ns, check=False)


def cleanup_stale_namespaces() -> list[str]:
    """Remove kpoll-<pid> namespaces whose owning process is gone."""
    removed = []
    for ns in list_namespaces():
        m = _NS_RE.fullmatch(ns)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or pid_alive(pid):
            continue
        delete_namespace(ns)
        removed.append(ns)
    if removed:
        log(f"removed stale namespaces: {' '.join(removed)}")
    return removed


def create(queues: int) -> str:
    """A new namespace with tap0 up at HOST_IP (multi-queue when `queues` > 1); its name."""
    with _lock:
        base = f"kpoll-{os.getpid()}"
        existing = set(list_namespaces())
        name, n = base, 1
        while name in existing or name in _in_use:
            name = f"{base}-{n}"
            n += 1
        _in_use.add(name)
    try:
        ip("netns", "add", name)
    except subprocess.CalledProcessError as e:
        with _lock:
            _in_use.discard(name)
        raise VmError(f"ip netns add failed: {e.stderr.strip()}") from None
    tap = ["-n", name, "tuntap", "add", "dev", TAP, "mode", "tap"]
    if queues > 1:
        tap.append("multi_queue")
    for args in (tap,
                 ["-n", name, "addr", "add", f"{HOST_IP}/24", "dev", TAP],
                 ["-n", name, "link", "set", TAP, "up"],
                 ["-n", name, "link", "set", "lo", "up"]):
        r = ip(*args, check=False)
        if r.returncode != 0:
            remove(name)
            raise VmError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return name


def remove(ns: str) -> None:
    """Delete a namespace made by `create` (and everything in it)."""
    delete_namespace(ns)
    with _lock:
        _in_use.discard(ns)


def exec_argv(ns: str, cmd: str | Sequence[str]) -> list[str]:
    """argv running `cmd` (an argv list, or a string for sh -c) inside `ns`."""
    argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    return ["ip", "netns", "exec", ns, *argv]
