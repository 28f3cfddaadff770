#!/usr/bin/env python3
"""kpoll's QEMU test harness (Python 3 stdlib only): a library and a small CLI.

    from vm import Vm
    with Vm(kernel, initrd, vcpus=2, queues=2) as vm:
        print(vm.check("uname -r"))
        vm.check("memcached -u nobody -t 1 -l 10.213.0.2 -p 11211 -d")
        vm.host(["memcaslap", "-s", "10.213.0.2:11211", "-T", "1", "-c", "4", "-t", "5s"])
        assert not vm.console_problems()

Each Vm gets its own network namespace `kpoll-<pid>` (`kpoll-<pid>-<n>` for further concurrent
Vms of the same process) holding tap0 = 10.213.0.1/24; the guest's first virtio NIC is
10.213.0.2/24. Nothing is routed out of the namespace. QEMU runs inside it; so do the commands
given to Vm.host()/Vm.host_popen(). The namespace, QEMU and every host process started through
the Vm are removed on every exit path (exceptions, SIGINT/SIGTERM/SIGHUP), and namespaces left
behind by dead processes are removed when the next Vm starts.

The guest's console (ttyS0) goes to a log file; ttyS1 carries the control channel to
scripts/guest/agent.sh (protocol described there).

Environment: KPOLL_ACCEL=kvm|tcg forces the accelerator (otherwise detect_accel() decides and
caches the verdict in $KPOLL_CACHE/accel); KPOLL_CMD_TIMEOUT sets the default timeout (seconds)
of run()/check() when the caller passes none; KPOLL_BOOT_TIMEOUT the boot timeout;
KPOLL_KERNEL / KPOLL_INITRD are the CLI's defaults for --kernel / --initrd.

CLI:
    python3 scripts/vm.py --kernel K --initrd I [--vcpus N] [--queues N] shell   < commands
    python3 scripts/vm.py --kernel K --initrd I run 'CMD'
"""

import argparse
import base64
import ctypes
import fcntl
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

KPOLL_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KPOLL_CACHE = os.environ.get("KPOLL_CACHE") or os.path.expanduser("~/.cache/kpoll")

GUEST_IP = "10.213.0.2"
HOST_IP = "10.213.0.1"
GUEST_MAC = "52:54:00:12:34:56"
READY_MARKER = b"KPOLL-GUEST-READY"
BOOT_TIMEOUT = {"tcg": 120.0, "kvm": 60.0}
KVM_TRIAL_TIMEOUT = 20.0
DEFAULT_CMD_TIMEOUT = 60.0
RUNL_THRESHOLD = 1024  # scripts whose base64 is longer go as RUNL (length-prefixed, faster)

PROBLEM_PATTERNS = [
    r"WARNING:",
    r"(?<!ODE)BUG:",
    r"Oops",
    r"Kernel panic",
    r"general protection fault",
    r"KASAN",
    r"UBSAN",
    r"possible circular locking",
    r"possible recursive locking",
    r"possible irq lock inversion",
    r"inconsistent lock state",
    r"DEBUG_LOCKS_WARN_ON",
    r"turning off the locking correctness validator",
    r"ODEBUG: (?!selftest passed)",
    r"suspicious RCU usage",
    r"INFO: task .* blocked",
    r"rcu_sched self-detected stall",
    r"RCU stall",
    r"sleeping function called from invalid context",
    r"list_add corruption",
    r"list_del corruption",
    r"detected stalls",
    r"refcount_t:",
]
PROBLEM_RE = re.compile("|".join(PROBLEM_PATTERNS))
_NS_RE = re.compile(r"kpoll-(\d+)(?:-\d+)?")
_B64_LINE_RE = re.compile(rb"[A-Za-z0-9+/=]+")


class VmError(RuntimeError):
    """Any harness failure."""


class BootError(VmError):
    """The guest did not reach KPOLL-GUEST-READY (message has the console tail)."""


class GuestDied(VmError):
    """QEMU exited (panic, poweroff, crash) while the harness needed the guest."""


class CommandTimeout(VmError):
    """A guest command outlived its timeout; the guest-side command was killed."""

    def __init__(self, message, script, timeout):
        super().__init__(message)
        self.script = script
        self.timeout = timeout


class CommandError(VmError):
    """check() saw a non-zero exit status; .rc and .output hold the details."""

    def __init__(self, script, rc, output):
        super().__init__(f"guest command failed with status {rc}: {script.strip()[:200]!r}\n"
                         f"--- output ---\n{output.rstrip()}")
        self.script = script
        self.rc = rc
        self.output = output


def log(msg):
    print(f"[kpoll] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Network namespaces

def _ip(*args, check=True):
    return subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=check)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces():
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def delete_namespace(ns):
    """Kill every process inside `ns`, remove its tap device and the namespace itself."""
    for _ in range(3):
        pids = [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split()
                if p.isdigit()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    _ip("-n", ns, "link", "del", "tap0", check=False)
    _ip("netns", "del", ns, check=False)


def cleanup_stale_namespaces():
    """Remove kpoll-<pid> namespaces whose owning process is gone."""
    removed = []
    for ns in list_namespaces():
        m = _NS_RE.fullmatch(ns)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        delete_namespace(ns)
        removed.append(ns)
    if removed:
        log(f"removed stale namespaces: {' '.join(removed)}")
    # Temporary directories (control sockets) of harnesses that were SIGKILLed.
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        m = re.fullmatch(r"kpoll-vm-(\d+)-\w+", name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
    return removed


# --------------------------------------------------------------------------------------------
# Accelerator

def _kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, 0xAE00) == 12  # KVM_GET_API_VERSION
    except OSError:
        return False
    finally:
        os.close(fd)


def detect_accel(kernel=None, initrd=None):
    """'kvm' or 'tcg'. KPOLL_ACCEL overrides; else the cached verdict ($KPOLL_CACHE/accel);
    else, if /dev/kvm is usable, a KVM trial boot of kernel+initrd (20 s) decides."""
    env = os.environ.get("KPOLL_ACCEL", "").strip()
    if env:
        if env not in ("kvm", "tcg"):
            raise VmError(f"KPOLL_ACCEL must be kvm or tcg, not {env!r}")
        return env
    cache = os.path.join(KPOLL_CACHE, "accel")
    try:
        with open(cache) as f:
            cached = f.read().strip()
        if cached in ("kvm", "tcg"):
            return cached
    except OSError:
        pass
    if not _kvm_usable():
        verdict = "tcg"
    elif kernel is None or initrd is None:
        return "tcg"  # cannot run the trial; do not cache a guess
    else:
        log(f"trying a KVM boot (up to {KVM_TRIAL_TIMEOUT:.0f} s) to choose the accelerator")
        try:
            with Vm(kernel, initrd, accel="kvm", boot_timeout=KVM_TRIAL_TIMEOUT) as vm:
                vm.run("true", timeout=10)
            verdict = "kvm"
        except VmError as e:
            log(f"KVM trial boot failed ({str(e).splitlines()[0]}); using TCG")
            verdict = "tcg"
    os.makedirs(KPOLL_CACHE, exist_ok=True)
    tmp = f"{cache}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(verdict + "\n")
    os.replace(tmp, cache)
    return verdict


# --------------------------------------------------------------------------------------------
# The VM

def _pdeathsig_preexec():
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec():
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the harness

    return preexec


_ns_lock = threading.Lock()
_ns_in_use = set()


class Vm:
    """A QEMU guest booted from `kernel` + `initrd` (see the module docstring)."""

    def __init__(self, kernel, initrd, vcpus=1, mem_mb=1024, queues=1, append_extra="",
                 log_path=None, accel=None, boot_timeout=None, icount=False):
        self.kernel = os.path.abspath(kernel)
        self.initrd = os.path.abspath(initrd)
        for path in (self.kernel, self.initrd):
            if not os.path.isfile(path):
                raise VmError(f"{path} does not exist")
        self.vcpus = int(vcpus)
        self.mem_mb = int(mem_mb)
        self.queues = int(queues)
        self.append_extra = append_extra
        self.accel = accel
        # QEMU `-icount shift=0,sleep=on`: guest time advances by one nanosecond per executed
        # instruction while a vCPU runs (and with real time while all are idle), so guest busy
        # time becomes an instruction count. TCG only, one vCPU thread.
        self.icount = bool(icount)
        self.boot_timeout = boot_timeout
        if log_path is None:
            logs = os.path.join(KPOLL_CACHE, "logs")
            os.makedirs(logs, exist_ok=True)
            log_path = os.path.join(logs, f"console-{os.getpid()}-{id(self):x}.log")
            self._prune_logs(logs)
        self.log_path = os.path.abspath(log_path)
        self.ns = None
        self.proc = None
        self.sock = None
        self.boot_seconds = None
        self._tmpdir = None
        self._rbuf = b""
        self._seq = 0
        self._tag = secrets.token_hex(3)
        self._children = []
        self._old_handlers = {}
        self._closed = False

    # ---- lifecycle -------------------------------------------------------------------------

    def __enter__(self):
        self._install_signal_handlers()
        try:
            cleanup_stale_namespaces()
            if self.accel is None:
                self.accel = detect_accel(self.kernel, self.initrd)
            if self.boot_timeout is None:
                env = os.environ.get("KPOLL_BOOT_TIMEOUT")
                self.boot_timeout = float(env) if env else BOOT_TIMEOUT[self.accel]
            self._tmpdir = tempfile.mkdtemp(prefix=f"kpoll-vm-{os.getpid()}-")
            self._setup_netns()
            self._start_qemu()
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def close(self):
        """Power the guest off and remove everything (idempotent)."""
        if self._closed:
            return
        self._closed = True
        # A second Ctrl-C must not interrupt the cleanup.
        blocked = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                blocked[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            self._kill_children()
            self._stop_qemu()
            if self.sock is not None:
                self.sock.close()
                self.sock = None
            if self.ns is not None:
                delete_namespace(self.ns)
                with _ns_lock:
                    _ns_in_use.discard(self.ns)
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
        finally:
            for sig, old in blocked.items():
                if old is not None:
                    signal.signal(sig, old)
            self._restore_signal_handlers()

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            raise SystemExit(128 + signum)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, handler)

    def _restore_signal_handlers(self):
        for sig, old in self._old_handlers.items():
            if old is not None:
                signal.signal(sig, old)
        self._old_handlers = {}

    def _setup_netns(self):
        with _ns_lock:
            base = f"kpoll-{os.getpid()}"
            existing = set(list_namespaces())
            name, n = base, 1
            while name in existing or name in _ns_in_use:
                name = f"{base}-{n}"
                n += 1
            _ns_in_use.add(name)
            self.ns = name
        try:
            _ip("netns", "add", self.ns)
        except subprocess.CalledProcessError as e:
            with _ns_lock:
                _ns_in_use.discard(self.ns)
            self.ns = None
            raise VmError(f"ip netns add failed: {e.stderr.strip()}") from None
        tap = ["-n", self.ns, "tuntap", "add", "dev", "tap0", "mode", "tap"]
        if self.queues > 1:
            tap.append("multi_queue")
        for args in (tap,
                     ["-n", self.ns, "addr", "add", f"{HOST_IP}/24", "dev", "tap0"],
                     ["-n", self.ns, "link", "set", "tap0", "up"],
                     ["-n", self.ns, "link", "set", "lo", "up"]):
            r = _ip(*args, check=False)
            if r.returncode != 0:
                raise VmError(f"ip {' '.join(args)}: {r.stderr.strip()}")

    def qemu_command(self):
        sock = os.path.join(self._tmpdir, "ctl.sock")
        append = f"console=ttyS0 panic=-1 {self.append_extra}".strip()
        if self.accel == "kvm":
            if self.icount:
                raise VmError("-icount needs TCG")
            accel, cpu = "kvm", "host"
        else:
            # icount runs every vCPU in one thread (round robin); MTTCG otherwise.
            multi = self.vcpus > 1 and not self.icount
            accel, cpu = ("tcg,thread=multi" if multi else "tcg"), "max"
        netdev = "tap,id=n0,ifname=tap0,script=no,downscript=no"
        nic = f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}"
        if self.queues > 1:
            netdev += f",queues={self.queues}"
            nic += f",mq=on,vectors={2 * self.queues + 2}"
        return [
            "qemu-system-x86_64", "-nodefaults", "-no-user-config",
            "-name", self.ns,
            "-accel", accel, "-cpu", cpu,
            "-smp", str(self.vcpus), "-m", str(self.mem_mb),
            "-display", "none", "-no-reboot",
            "-kernel", self.kernel, "-initrd", self.initrd, "-append", append,
            "-serial", f"file:{self.log_path}",
            "-serial", f"unix:{sock},server=on,wait=off",
            "-netdev", netdev, "-device", nic,
            *(["-icount", "shift=0,sleep=on"] if self.icount else []),
        ]

    def _start_qemu(self):
        cmd = ["ip", "netns", "exec", self.ns] + self.qemu_command()
        self._qemu_log = os.path.join(self._tmpdir, "qemu.stderr")
        with open(self.log_path, "wb"):
            pass  # truncate; an old log must not satisfy the READY check
        self._t0 = time.monotonic()
        with open(self._qemu_log, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         start_new_session=True,
                                         preexec_fn=_pdeathsig_preexec())
        sock_path = os.path.join(self._tmpdir, "ctl.sock")
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise BootError(f"qemu exited with status {self.proc.returncode}:\n"
                                f"{self._qemu_stderr()}")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock_path)
                s.setblocking(False)
                self.sock = s
                return
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise BootError("cannot connect to QEMU's ttyS1 socket:\n"
                                    + self._qemu_stderr()) from None
                time.sleep(0.05)

    def _wait_ready(self):
        deadline = self._t0 + self.boot_timeout
        while True:
            try:
                with open(self.log_path, "rb") as f:
                    if READY_MARKER in f.read():
                        break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise BootError(f"guest died during boot (qemu status {self.proc.returncode})\n"
                                f"{self._qemu_stderr()}--- console tail ---\n"
                                f"{self.console_tail()}")
            if time.monotonic() > deadline:
                raise BootError(f"guest not ready after {self.boot_timeout:.0f} s "
                                f"({self.accel}); console: {self.log_path}\n"
                                f"--- console tail ---\n{self.console_tail()}")
            time.sleep(0.1)
        self.boot_seconds = time.monotonic() - self._t0

    def _stop_qemu(self):
        if self.proc is None:
            return
        if self.proc.poll() is None and self.sock is not None:
            try:  # best effort: a clean poweroff
                self._send(f"RUN {self._tag}-off {base64.b64encode(b'poweroff -f').decode()}\n")
                self.proc.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _kill_children(self):
        for p in self._children:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self._children = []

    @staticmethod
    def _prune_logs(logs, keep=30, min_age=86400):
        """Delete default console logs beyond the newest `keep` that are over a day old."""
        try:
            entries = sorted((os.path.join(logs, n) for n in os.listdir(logs)),
                             key=os.path.getmtime, reverse=True)
            now = time.time()
            for path in entries[keep:]:
                if now - os.path.getmtime(path) > min_age:
                    os.unlink(path)
        except OSError:
            pass

    # ---- diagnostics -----------------------------------------------------------------------

    def _qemu_stderr(self):
        try:
            with open(self._qemu_log, errors="replace") as f:
                text = f.read()
            return text if text.endswith("\n") or not text else text + "\n"
        except (OSError, AttributeError):
            return ""

    def console_log(self):
        """The whole console (ttyS0) log so far."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def console_tail(self, lines=40):
        return "\n".join(self.console_log().splitlines()[-lines:])

    def console_problems(self):
        """Console lines that look like kernel splats (PROBLEM_PATTERNS)."""
        return [line.strip() for line in self.console_log().splitlines()
                if PROBLEM_RE.search(line)]

    def qemu_cpu_seconds(self):
        """Host CPU time (user + system, all threads) QEMU has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- control channel -------------------------------------------------------------------

    def _send(self, text):
        data = text.encode()
        while data:
            try:
                n = self.sock.send(data)
                data = data[n:]
            except BlockingIOError:
                select.select([], [self.sock], [], 1.0)
                self._check_alive()

    def _check_alive(self):
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise GuestDied(f"the guest is gone (qemu status {code})\n"
                            f"--- console tail ---\n{self.console_tail()}")

    def _readline(self, deadline):
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
                    try:
                        self.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
                    self._check_alive()
                    raise GuestDied("the control channel closed")
                self._rbuf += chunk
            else:
                self._check_alive()

    def _await(self, cid, deadline):
        """(rc, output bytes) of request `cid`, or None when the deadline passes."""
        begin, end_prefix = b"BEGIN " + cid, b"END " + cid + b" "
        out, inside = [], False
        while True:
            line = self._readline(deadline)
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

    def _timeout(self, timeout):
        if timeout is not None:
            return float(timeout)
        env = os.environ.get("KPOLL_CMD_TIMEOUT")
        return float(env) if env else DEFAULT_CMD_TIMEOUT

    def run(self, script, timeout=None):
        """Run a shell script in the guest: (exit status, combined stdout+stderr).
        timeout: seconds (default $KPOLL_CMD_TIMEOUT or 60); on expiry the guest command's
        process group is killed and CommandTimeout is raised."""
        if self.sock is None:
            raise VmError("the VM is not running (use it as a context manager)")
        timeout = self._timeout(timeout)
        self._check_alive()
        self._seq += 1
        cid = f"{self._tag}-{self._seq}"
        payload = base64.b64encode(script.encode()).decode()
        if len(payload) > RUNL_THRESHOLD:
            self._send(f"RUNL {cid} {len(payload)}\n{payload}\n")
        else:
            self._send(f"RUN {cid} {payload}\n")
        reply = self._await(cid.encode(), time.monotonic() + timeout)
        if reply is None:
            self._send(f"KILL {cid}\n")
            late = self._await(cid.encode(), time.monotonic() + 10)
            partial = "" if late is None else late[1].decode(errors="replace")
            raise CommandTimeout(f"guest command timed out after {timeout:g} s: "
                                 f"{script.strip()[:200]!r}"
                                 + (f"\n--- output before the kill ---\n{partial.rstrip()}"
                                    if partial else ""), script, timeout)
        rc, out = reply
        return rc, out.decode(errors="replace")

    def check(self, script, timeout=None):
        """run() that raises CommandError on a non-zero exit status; returns the output."""
        rc, out = self.run(script, timeout)
        if rc != 0:
            raise CommandError(script, rc, out)
        return out

    def ping(self, timeout=5.0):
        """True when the agent answers (only while no command is running)."""
        self._seq += 1
        cid = f"{self._tag}-{self._seq}"
        self._send(f"PING {cid}\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                return False
            if line == f"PONG {cid}".encode():
                return True

    def put(self, path, data, mode=None, timeout=None):
        """Write bytes (or str) to a file in the guest."""
        if isinstance(data, str):
            data = data.encode()
        b64 = base64.b64encode(data).decode()
        script = f"printf '%s' '{b64}' | base64 -d > {shlex.quote(path)}"
        if mode is not None:
            script += f" && chmod {mode:o} {shlex.quote(path)}"
        self.check(script, timeout)

    def get(self, path, timeout=None):
        """Read a file from the guest (bytes)."""
        return base64.b64decode(self.check(f"base64 {shlex.quote(path)}", timeout))

    # ---- host side, inside the namespace ---------------------------------------------------

    def _ns_argv(self, cmd):
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        return ["ip", "netns", "exec", self.ns, *cmd]

    def host(self, cmd, timeout=60, check=False, input=None):
        """Run a host command inside the VM's namespace (it reaches the guest at 10.213.0.2).
        cmd: argv list, or a string for sh -c. Returns CompletedProcess (text, captured)."""
        return subprocess.run(self._ns_argv(cmd), input=input, capture_output=True, text=True,
                              timeout=timeout, check=check,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              start_new_session=True, preexec_fn=_pdeathsig_preexec())

    def host_popen(self, cmd, **kwargs):
        """Start a host command inside the namespace in the background (subprocess.Popen
        kwargs allowed); it is killed when the Vm closes."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self._ns_argv(cmd), start_new_session=True,
                             preexec_fn=_pdeathsig_preexec(), **kwargs)
        self._children.append(p)
        return p

    # ---- guest statistics ------------------------------------------------------------------

    def interrupts(self, pattern="virtio0-input"):
        """{irq name: count summed over CPUs} for /proc/interrupts lines whose name (last
        column) matches the regex `pattern`, e.g. {"virtio0-input.0": 1234}."""
        text = self.check("cat /proc/interrupts")
        lines = text.splitlines()
        ncpu = len(lines[0].split()) if lines else 0
        rx = re.compile(pattern)
        result = {}
        for line in lines[1:]:
            fields = line.split()
            if len(fields) < 2 or not fields[0].endswith(":"):
                continue
            name = fields[-1]
            if not rx.search(name):
                continue
            counts = [int(x) for x in fields[1:1 + ncpu] if x.isdigit()]
            result[name] = result.get(name, 0) + sum(counts)
        return result

    def cpu_jiffies(self):
        """(busy, total) jiffies from the guest's /proc/stat `cpu` line (all CPUs)."""
        first = self.check("head -n1 /proc/stat").split()
        if not first or first[0] != "cpu":
            raise VmError(f"unexpected /proc/stat: {first}")
        v = [int(x) for x in first[1:]]
        v += [0] * (8 - len(v))
        total = sum(v[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
        return total - v[3] - v[4], total


# --------------------------------------------------------------------------------------------
# CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description="Boot the kpoll test guest and run commands.")
    ap.add_argument("--kernel", default=os.environ.get("KPOLL_KERNEL"),
                    help="bzImage (default $KPOLL_KERNEL)")
    ap.add_argument("--initrd", default=os.environ.get("KPOLL_INITRD"),
                    help="initramfs (default $KPOLL_INITRD)")
    ap.add_argument("--vcpus", type=int, default=1)
    ap.add_argument("--mem", type=int, default=1024, help="MiB")
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("--append", default="", help="extra kernel command line")
    ap.add_argument("--log", default=None, help="console log path")
    ap.add_argument("--accel", choices=("kvm", "tcg"), default=None)
    ap.add_argument("--timeout", type=float, default=None, help="per-command timeout (s)")
    sub = ap.add_subparsers(dest="mode", required=True)
    sub.add_parser("shell", help="run stdin lines one by one")
    p_run = sub.add_parser("run", help="run one command; exit with its status")
    p_run.add_argument("cmd")
    args = ap.parse_args(argv)
    if not args.kernel or not args.initrd:
        ap.error("--kernel and --initrd are required (or set KPOLL_KERNEL / KPOLL_INITRD)")

    vm = Vm(args.kernel, args.initrd, vcpus=args.vcpus, mem_mb=args.mem, queues=args.queues,
            append_extra=args.append, log_path=args.log, accel=args.accel)
    status = 0
    with vm:
        log(f"guest ready in {vm.boot_seconds:.1f} s ({vm.accel}, netns {vm.ns}, "
            f"console {vm.log_path})")
        if args.mode == "run":
            rc, out = vm.run(args.cmd, args.timeout)
            sys.stdout.write(out)
            status = rc
        else:
            interactive = sys.stdin.isatty()
            while True:
                if interactive:
                    print("kpoll-guest# ", end="", file=sys.stderr, flush=True)
                line = sys.stdin.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                try:
                    rc, out = vm.run(line, args.timeout)
                except CommandTimeout as e:
                    print(e, file=sys.stderr)
                    status = 124
                    continue
                sys.stdout.write(out)
                sys.stdout.flush()
                if rc:
                    print(f"[exit status {rc}]", file=sys.stderr, flush=True)
                status = rc
        problems = vm.console_problems()
        if problems:
            log("kernel problems on the console:\n  " + "\n  ".join(problems))
    return status


if __name__ == "__main__":
    sys.exit(main())
