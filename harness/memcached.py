"""Unmodified memcached in the guest, as the tests, the demo and the benchmark run it, and its
own counters asked from the host namespace.

memcached writes its pid file after dropping to `nobody`, so the file is in /tmp, where nobody
may write: in /run it was never written, stop_memcached() stopped nothing and every later
start_memcached() silently kept the first instance (and its thread count). It is listening
when /proc/net/tcp shows its socket in state 0A (LISTEN): connections of a previous instance
may linger in other states. Stopping waits until the process is gone and its socket closed.
"""
from __future__ import annotations

from harness.guest_api import Guest
from harness.netns import GUEST_IP
from harness.wait import wait_for

MEMCACHED_PORT = 11211
SERVER = f"{GUEST_IP}:{MEMCACHED_PORT}"
PID_FILE = "/tmp/memcached.pid"
# memcached's listening socket in /proc/net/tcp: local port, any remote, state 0A (LISTEN).
LISTENING = f":{MEMCACHED_PORT:04X} 00000000:0000 0A"


def memcached_command(env: str = "", args: str = "-t 1") -> str:
    """The guest command that starts memcached as a daemon; `env` goes in front (LD_PRELOAD),
    `args` are the thread options."""
    return (f"{env} memcached -u nobody {args} -l {GUEST_IP} -p {MEMCACHED_PORT} -c 4096 -d "
            f"-P {PID_FILE}").strip()


def _listening(vm: Guest) -> bool:
    return vm.run(f"grep -q '{LISTENING}' /proc/net/tcp")[0] == 0


def start_memcached(vm: Guest, args: str = "-t 1", env: str = "") -> None:
    """Starts memcached and waits until it listens; with an LD_PRELOAD in `env`, checks that
    the library is really mapped (memcached -d sends stderr to /dev/null)."""
    vm.check(memcached_command(env, args))
    wait_for(lambda: _listening(vm), "memcached listening")
    if "LD_PRELOAD=" in env:
        library = env.split("LD_PRELOAD=", 1)[1].split()[0]
        if vm.run(f"grep -q {library} /proc/$(cat {PID_FILE})/maps")[0] != 0:
            raise RuntimeError(f"{library} is not loaded into memcached")


def stop_memcached(vm: Guest) -> None:
    """Stops memcached (if it runs) and waits until it is gone and no longer listening."""
    vm.run(f"kill $(cat {PID_FILE}) 2>/dev/null; "
           f"while [ -e /proc/$(cat {PID_FILE} 2>/dev/null)/status ]; do :; done; "
           f"rm -f {PID_FILE}")
    wait_for(lambda: not _listening(vm), "memcached gone")


def memcache_request(vm: Guest, payload: bytes, expect_end: bytes = b"END\r\n",
                     connect_timeout: float = 10, timeout: float = 30) -> bytes:
    """Sends one memcached text request from the host namespace and returns the reply."""
    script = (
        "import socket,sys\n"
        f"s=socket.create_connection(('{GUEST_IP}',{MEMCACHED_PORT}),timeout={connect_timeout})\n"
        f"s.sendall({payload!r})\n"
        "buf=b''\n"
        f"while not buf.endswith({expect_end!r}):\n"
        "    d=s.recv(65536)\n"
        "    if not d: break\n"
        "    buf+=d\n"
        "print(buf.hex())\n"
    )
    proc = vm.host(["python3", "-c", script], timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return bytes.fromhex(proc.stdout.strip())


# The same `stats` request from inside the guest (busybox nc), for a guest command that must
# read memcached's counters at the same instant as others (harness.load_run).
GUEST_STATS_COMMAND = f"printf 'stats\\r\\nquit\\r\\n' | nc {GUEST_IP} {MEMCACHED_PORT}"


def parse_stats(reply: str, complete: bool = False) -> dict[str, int]:
    """A `stats` reply as {name: int} (non-numeric ones skipped). `complete`: the reply must end
    with memcached's `END` (a reply cut short, e.g. a failed `nc`, raises RuntimeError)."""
    if complete and not reply.rstrip().endswith("END"):
        raise RuntimeError(f"memcached stats reply cut short: {reply[-300:]!r}")
    stats = {}
    for line in reply.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit():
            stats[parts[1]] = int(parts[2])
    return stats


def requests_served(stats: dict[str, int]) -> int:
    """cmd_get + cmd_set: the requests memcached has served (a load run's count)."""
    if "cmd_get" not in stats or "cmd_set" not in stats:
        raise RuntimeError(f"memcached stats without cmd_get and cmd_set: {sorted(stats)[:20]}")
    return stats["cmd_get"] + stats["cmd_set"]


def memcached_stats(vm: Guest, connect_timeout: float = 10,
                    timeout: float = 30) -> dict[str, int]:
    """memcached's own `stats` counters, asked from the host namespace."""
    return parse_stats(memcache_request(vm, b"stats\r\n", connect_timeout=connect_timeout,
                                        timeout=timeout).decode())


def memcached_ops(vm: Guest) -> int:
    """The requests memcached has served, asked from the host namespace."""
    return requests_served(memcached_stats(vm, connect_timeout=20, timeout=60))
