"""A QEMU guest for kpoll's tests, demo and benchmark: its lifecycle.

    from harness.vm import Vm
    with Vm(kernel, initrd, vcpus=2, queues=2) as vm:
        print(vm.check("uname -r"))
        vm.check("memcached -u nobody -t 1 -l 10.213.0.2 -p 11211 -d")
        vm.host(["memcaslap", "-s", "10.213.0.2:11211", "-T", "1", "-c", "4", "-t", "5s"])
        assert not vm.console_problems()

Each Vm runs QEMU in a network namespace of its own (harness.netns); so do the commands given
to Vm.host()/Vm.host_popen(). The namespace, QEMU and every host process started through the
Vm are removed on every exit path (exceptions, SIGINT/SIGTERM/SIGHUP), and namespaces left
behind by dead processes are removed when the next Vm starts.

The guest's console (ttyS0) goes to a log file (harness.console); ttyS1 carries the control
channel to scripts/guest/agent.sh (harness.agent).

Environment: KPOLL_ACCEL=kvm|tcg forces the accelerator (otherwise harness.accel decides and
caches the verdict in $KPOLL_CACHE/accel); KPOLL_CMD_TIMEOUT sets the default timeout (seconds)
of run()/check() when the caller passes none; KPOLL_BOOT_TIMEOUT the boot timeout.
"""
from __future__ import annotations

import base64
import ctypes
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any

from harness import accel, console, netns
from harness.agent import Agent
from harness.env import CACHE, log
from harness.errors import BootError, CommandError, GuestDied, VmError
from harness.host_cpu import process_cpu_seconds

READY_MARKER = b"KPOLL-GUEST-READY"
DEFAULT_CMD_TIMEOUT = 60.0
QEMU_SOCKET_TIMEOUT = 15.0  # seconds for QEMU to open ttyS1's socket
_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_TMPDIR_RE = re.compile(r"kpoll-vm-(\d+)-\w+")

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _pdeathsig_preexec() -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the harness

    return preexec


def _remove_stale_tmpdirs() -> None:
    """Temporary directories (control sockets) of harnesses that were SIGKILLed."""
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        m = _TMPDIR_RE.fullmatch(name)
        if m and int(m.group(1)) != os.getpid() and not netns.pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


def detect_accel(kernel: str | None = None, initrd: str | None = None) -> str:
    """'kvm' or 'tcg' (harness.accel); the KVM trial boots kernel+initrd."""
    if kernel is None or initrd is None:
        return accel.choose(None)

    def trial() -> bool:
        try:
            with Vm(kernel, initrd, accel="kvm", boot_timeout=accel.KVM_TRIAL_TIMEOUT) as vm:
                vm.run("true", timeout=10)
            return True
        except VmError as e:
            log(f"KVM trial boot failed ({str(e).splitlines()[0]}); using TCG")
            return False

    return accel.choose(trial)


# QEMU's -icount value for icount boots. KPOLL_ICOUNT replaces it for an experiment, e.g.
# `shift=5,align=on,sleep=on` (README, "Measuring with the guest's clock aligned to the host's");
# a guest ns of busy time is then 2^-shift instructions (icount_shift()).
ICOUNT_ENV = "KPOLL_ICOUNT"
ICOUNT_DEFAULT = "shift=0,sleep=on"


def icount_shift(option: str) -> int | None:
    """The shift of an -icount option (`shift=N,...`, or QEMU's bare `N`): each instruction
    advances the guest's clock 2^N ns. None for `shift=auto` or no shift (busy time is then
    no instruction count); VmError for a shift QEMU would refuse (not 0-10)."""
    fields = option.split(",")
    shift = fields[0] if "=" not in fields[0] else dict(
        f.partition("=")[::2] for f in fields).get("shift", "auto")
    if shift == "auto":
        return None
    if not re.fullmatch(r"[0-9]+", shift) or int(shift) > 10:
        raise VmError(f"-icount {option!r}: the shift must be 0-10 or auto")
    return int(shift)


class Vm:
    """A QEMU guest booted from `kernel` + `initrd` (see the module docstring).

    `benign_console` matches console lines that look like kernel reports but are expected of
    this kernel (console_problems() leaves them out)."""

    def __init__(self, kernel: str, initrd: str, vcpus: int = 1, mem_mb: int = 1024,
                 queues: int = 1, append_extra: str = "", log_path: str | None = None,
                 accel: str | None = None, boot_timeout: float | None = None,
                 icount: bool = False, benign_console: re.Pattern[str] | None = None,
                 plugin: str = "") -> None:
        self.kernel = os.path.abspath(kernel)
        self.initrd = os.path.abspath(initrd)
        for path in (self.kernel, self.initrd):
            if not os.path.isfile(path):
                raise VmError(f"{path} does not exist")
        self.vcpus = int(vcpus)
        self.mem_mb = int(mem_mb)
        self.queues = int(queues)
        self.append_extra = append_extra
        self.accel: str = accel or ""  # chosen on entry when not given
        # QEMU `-icount shift=0,sleep=on`: guest time advances by one nanosecond per executed
        # instruction while a vCPU runs (and with real time while all are idle), so guest busy
        # time becomes an instruction count. TCG only, one vCPU thread.
        self.icount = bool(icount)
        self.icount_option = os.environ.get(ICOUNT_ENV, ICOUNT_DEFAULT) if self.icount else ""
        # Guest ns per instruction is 2^icount_shift; None without icount or with shift=auto.
        self.icount_shift = icount_shift(self.icount_option) if self.icount else None
        # A TCG plugin to load: the value of QEMU's `-plugin` option (harness.insn_profile).
        self.plugin = plugin
        self.boot_timeout = boot_timeout
        self.benign_console = benign_console
        if log_path is None:
            logs = os.path.join(CACHE, "logs")
            os.makedirs(logs, exist_ok=True)
            log_path = os.path.join(logs, f"console-{os.getpid()}-{id(self):x}.log")
            console.prune_logs(logs)
        self.log_path = os.path.abspath(log_path)
        self.ns: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.agent: Agent | None = None
        self.boot_seconds: float | None = None
        self._tmpdir: str | None = None
        self._qemu_log: str | None = None
        self._t0 = 0.0
        self._children: list[subprocess.Popen[Any]] = []
        self._old_handlers: dict[signal.Signals, _SignalHandler] = {}
        self._closed = False

    # ---- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Vm:
        self._install_signal_handlers()
        try:
            netns.cleanup_stale_namespaces()
            _remove_stale_tmpdirs()
            if not self.accel:
                self.accel = detect_accel(self.kernel, self.initrd)
            if self.boot_timeout is None:
                env = os.environ.get("KPOLL_BOOT_TIMEOUT")
                self.boot_timeout = float(env) if env else accel.BOOT_TIMEOUT[self.accel]
            self._tmpdir = tempfile.mkdtemp(prefix=f"kpoll-vm-{os.getpid()}-")
            self.ns = netns.create(self.queues)
            self._start_qemu()
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Power the guest off and remove everything (idempotent)."""
        if self._closed:
            return
        self._closed = True
        # A second Ctrl-C must not interrupt the cleanup.
        blocked: dict[signal.Signals, _SignalHandler] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in _HANDLED_SIGNALS:
                blocked[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            self._kill_children()
            self._stop_qemu()
            if self.agent is not None:
                self.agent.close()
                self.agent = None
            if self.ns is not None:
                netns.remove(self.ns)
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
        finally:
            for sig, old in blocked.items():
                if old is not None:
                    signal.signal(sig, old)
            self._restore_signal_handlers()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        for sig in _HANDLED_SIGNALS:
            self._old_handlers[sig] = signal.signal(sig, handler)

    def _restore_signal_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            if old is not None:
                signal.signal(sig, old)
        self._old_handlers = {}

    def _socket_path(self) -> str:
        assert self._tmpdir is not None
        return os.path.join(self._tmpdir, "ctl.sock")

    def qemu_command(self) -> list[str]:
        """QEMU's argv: accelerator (MTTCG, single-threaded TCG with icount, or KVM), the
        virtio NIC (multi-queue when queues > 1) on the namespace's tap0, the two serial
        ports."""
        assert self.ns is not None
        append = f"console=ttyS0 panic=-1 {self.append_extra}".strip()
        if self.accel == "kvm":
            if self.icount or self.plugin:
                raise VmError("-icount and TCG plugins need TCG")
            accel_arg, cpu = "kvm", "host"
        else:
            # icount runs every vCPU in one thread (round robin); MTTCG otherwise.
            multi = self.vcpus > 1 and not self.icount
            accel_arg, cpu = ("tcg,thread=multi" if multi else "tcg"), "max"
        netdev = f"tap,id=n0,ifname={netns.TAP},script=no,downscript=no"
        nic = f"virtio-net-pci,netdev=n0,mac={netns.GUEST_MAC}"
        if self.queues > 1:
            netdev += f",queues={self.queues}"
            nic += f",mq=on,vectors={2 * self.queues + 2}"
        return [
            "qemu-system-x86_64", "-nodefaults", "-no-user-config",
            "-name", self.ns,
            "-accel", accel_arg, "-cpu", cpu,
            "-smp", str(self.vcpus), "-m", str(self.mem_mb),
            "-display", "none", "-no-reboot",
            "-kernel", self.kernel, "-initrd", self.initrd, "-append", append,
            "-serial", f"file:{self.log_path}",
            "-serial", f"unix:{self._socket_path()},server=on,wait=off",
            "-netdev", netdev, "-device", nic,
            *(["-icount", self.icount_option] if self.icount else []),
            *(["-plugin", self.plugin] if self.plugin else []),
        ]

    def _start_qemu(self) -> None:
        assert self.ns is not None and self._tmpdir is not None
        cmd = netns.exec_argv(self.ns, self.qemu_command())
        self._qemu_log = os.path.join(self._tmpdir, "qemu.stderr")
        with open(self.log_path, "wb"):
            pass  # truncate; an old log must not satisfy the READY check
        self._t0 = time.monotonic()
        with open(self._qemu_log, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         start_new_session=True,
                                         preexec_fn=_pdeathsig_preexec())
        deadline = time.monotonic() + QEMU_SOCKET_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise BootError(f"qemu exited with status {self.proc.returncode}:\n"
                                f"{self._qemu_stderr()}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self._socket_path())
                s.setblocking(False)
                self.agent = Agent(s, self._check_alive, self._wait_qemu_exit)
                return
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise BootError("cannot connect to QEMU's ttyS1 socket:\n"
                                    + self._qemu_stderr()) from None
                time.sleep(0.05)

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.boot_timeout is not None
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

    def _stop_qemu(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None and self.agent is not None:
            try:  # best effort: a clean poweroff
                self.agent.request_poweroff()
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

    def _wait_qemu_exit(self) -> None:
        """After the control channel closed: give QEMU time to exit (then it is dead)."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def _kill_children(self) -> None:
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

    # ---- diagnostics -----------------------------------------------------------------------

    def _qemu_stderr(self) -> str:
        if self._qemu_log is None:
            return ""
        try:
            with open(self._qemu_log, errors="replace") as f:
                text = f.read()
            return text if text.endswith("\n") or not text else text + "\n"
        except OSError:
            return ""

    def console_log(self) -> str:
        """The whole console (ttyS0) log so far."""
        return console.read(self.log_path)

    def console_tail(self, lines: int = 40) -> str:
        return "\n".join(self.console_log().splitlines()[-lines:])

    def console_problems(self) -> list[str]:
        """Console lines that look like kernel splats (harness.console.PROBLEM_RE), without
        those of `benign_console`."""
        return console.problems(self.console_log(), self.benign_console)

    def qemu_cpu_seconds(self) -> float:
        """Host CPU time (user + system, all threads) QEMU has used so far."""
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- guest commands --------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise GuestDied(f"the guest is gone (qemu status {code})\n"
                            f"--- console tail ---\n{self.console_tail()}")

    @staticmethod
    def _timeout(timeout: float | None) -> float:
        if timeout is not None:
            return float(timeout)
        env = os.environ.get("KPOLL_CMD_TIMEOUT")
        return float(env) if env else DEFAULT_CMD_TIMEOUT

    def _running_agent(self) -> Agent:
        if self.agent is None:
            raise VmError("the VM is not running (use it as a context manager)")
        return self.agent

    def run(self, script: str, timeout: float | None = None) -> tuple[int, str]:
        """Run a shell script in the guest: (exit status, combined stdout+stderr).
        timeout: seconds (default $KPOLL_CMD_TIMEOUT or 60); on expiry the guest command's
        process group is killed and CommandTimeout is raised."""
        agent = self._running_agent()
        seconds = self._timeout(timeout)
        self._check_alive()
        return agent.run(script, seconds)

    def check(self, script: str, timeout: float | None = None) -> str:
        """run() that raises CommandError on a non-zero exit status; returns the output."""
        rc, out = self.run(script, timeout)
        if rc != 0:
            raise CommandError(script, rc, out)
        return out

    def ping(self, timeout: float = 5.0) -> bool:
        """True when the agent answers (only while no command is running)."""
        return self._running_agent().ping(timeout)

    def put(self, path: str, data: bytes | str, mode: int | None = None,
            timeout: float | None = None) -> None:
        """Write bytes (or str) to a file in the guest."""
        raw = data.encode() if isinstance(data, str) else data
        b64 = base64.b64encode(raw).decode()
        script = f"printf '%s' '{b64}' | base64 -d > {shlex.quote(path)}"
        if mode is not None:
            script += f" && chmod {mode:o} {shlex.quote(path)}"
        self.check(script, timeout)

    def get(self, path: str, timeout: float | None = None) -> bytes:
        """Read a file from the guest (bytes)."""
        return base64.b64decode(self.check(f"base64 {shlex.quote(path)}", timeout))

    # ---- host side, inside the namespace ---------------------------------------------------

    def _ns_argv(self, cmd: str | Sequence[str]) -> list[str]:
        if self.ns is None:
            raise VmError("the VM is not running (use it as a context manager)")
        return netns.exec_argv(self.ns, cmd)

    def host(self, cmd: str | Sequence[str], timeout: float = 60, check: bool = False,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a host command inside the VM's namespace (it reaches the guest at 10.213.0.2).
        cmd: argv list, or a string for sh -c. Returns CompletedProcess (text, captured)."""
        return subprocess.run(self._ns_argv(cmd), input=input, capture_output=True, text=True,
                              timeout=timeout, check=check,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              start_new_session=True, preexec_fn=_pdeathsig_preexec())

    def host_popen(self, cmd: str | Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a host command inside the namespace in the background (subprocess.Popen
        kwargs allowed); it is killed when the Vm closes."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        p: subprocess.Popen[Any] = subprocess.Popen(self._ns_argv(cmd), start_new_session=True,
                                                    preexec_fn=_pdeathsig_preexec(), **kwargs)
        self._children.append(p)
        return p
