"""The host side of the control channel to the guest agent (scripts/guest/agent.sh, which
describes the protocol): QEMU's ttyS1, a Unix socket on the host.

Requests are one line each: `RUN <id> <base64 script>` (or `RUNL <id> <n>` and the base64 on
the next line, for scripts whose base64 is longer than RUNL_THRESHOLD), `KILL <id>`,
`PING <id>`. The reply to a script is `BEGIN <id>`, its output as base64 lines, and
`END <id> <status>`; a ping's is `PONG <id>`. Ids are `<tag>-<n>` with a random tag per
channel, so replies to requests of an earlier channel or an abandoned request are skipped.

The agent knows nothing of QEMU: the channel is told how to check that the guest is still
there (`check_alive` raises GuestDied if not) and how to wait for QEMU after the socket closed.
"""
from __future__ import annotations

import base64
import re
import secrets
import select
import socket
import time
from collections.abc import Callable

from harness.errors import CommandTimeout, GuestDied

RUNL_THRESHOLD = 1024  # scripts whose base64 is longer go as RUNL (length-prefixed, faster)
KILL_GRACE = 10.0  # seconds to wait for the reply of a script after KILL
_B64_LINE_RE = re.compile(rb"[A-Za-z0-9+/=]+")


class Agent:
    """One control channel; `sock` is connected and non-blocking."""

    def __init__(self, sock: socket.socket, check_alive: Callable[[], None],
                 wait_exit: Callable[[], None]) -> None:
        self.sock = sock
        self._check_alive = check_alive
        self._wait_exit = wait_exit
        self._rbuf = b""
        self._seq = 0
        self._tag = secrets.token_hex(3)

    def close(self) -> None:
        self.sock.close()

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self._tag}-{self._seq}"

    def send(self, text: str) -> None:
        data = text.encode()
        while data:
            try:
                n = self.sock.send(data)
                data = data[n:]
            except BlockingIOError:
                select.select([], [self.sock], [], 1.0)
                self._check_alive()

    def readline(self, deadline: float) -> bytes | None:
        """Next line from ttyS1 (bytes, without the newline), or None at the deadline."""
        while True:
            nl = self._rbuf.find(b"\n")
            if nl >= 0:
                line, self._rbuf = self._rbuf[:nl], self._rbuf[nl + 1:]
                return line.rstrip(b"\r")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], min(remaining, 0.5))
            if r:
                try:
                    chunk = self.sock.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    self._wait_exit()
                    self._check_alive()
                    raise GuestDied("the control channel closed")
                self._rbuf += chunk
            else:
                self._check_alive()

    def _await(self, cid: bytes, deadline: float) -> tuple[int, bytes] | None:
        """(rc, output bytes) of request `cid`, or None when the deadline passes."""
        begin, end_prefix = b"BEGIN " + cid, b"END " + cid + b" "
        out: list[bytes] = []
        inside = False
        while True:
            line = self.readline(deadline)
            if line is None:
                return None
            if line == begin:
                out, inside = [], True
            elif line.startswith(end_prefix):
                try:
                    rc = int(line[len(end_prefix):].strip())
                except ValueError:
                    continue
                data = b"".join(out)
                data = data[:len(data) - len(data) % 4]
                return rc, base64.b64decode(data)
            elif inside and _B64_LINE_RE.fullmatch(line):
                out.append(line)
            # anything else: stale replies of earlier requests, PONGs, noise

    def run(self, script: str, timeout: float) -> tuple[int, str]:
        """(exit status, combined stdout+stderr) of a shell script in the guest; after
        `timeout` seconds the script's process group is killed and CommandTimeout raised."""
        cid = self._next_id()
        payload = base64.b64encode(script.encode()).decode()
        if len(payload) > RUNL_THRESHOLD:
            self.send(f"RUNL {cid} {len(payload)}\n{payload}\n")
        else:
            self.send(f"RUN {cid} {payload}\n")
        reply = self._await(cid.encode(), time.monotonic() + timeout)
        if reply is None:
            self.send(f"KILL {cid}\n")
            late = self._await(cid.encode(), time.monotonic() + KILL_GRACE)
            partial = "" if late is None else late[1].decode(errors="replace")
            raise CommandTimeout(f"guest command timed out after {timeout:g} s: "
                                 f"{script.strip()[:200]!r}"
                                 + (f"\n--- output before the kill ---\n{partial.rstrip()}"
                                    if partial else ""), script, timeout)
        rc, out = reply
        return rc, out.decode(errors="replace")

    def ping(self, timeout: float) -> bool:
        """True when the agent answers (only while no command is running)."""
        cid = self._next_id()
        self.send(f"PING {cid}\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(deadline)
            if line is None:
                return False
            if line == f"PONG {cid}".encode():
                return True

    def request_poweroff(self) -> None:
        """Ask the guest to power off now; no reply is awaited."""
        self.send(f"RUN {self._tag}-off {base64.b64encode(b'poweroff -f').decode()}\n")
