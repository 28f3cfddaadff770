"""kpoll-loadgen (loadgen/), the memcached load generator, run from the host namespace.

It prints a JSON summary as its last line starting with "{" (loadgen/README.md has the
schema); a run that printed none failed.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any

from harness.env import CACHE, ROOT
from harness.guest_api import Guest
from harness.memcached import SERVER

TARGET_DIR = os.path.join(CACHE, "tools-target")


def build_loadgen() -> str:
    """Builds kpoll-loadgen (release, cached target dir); returns the executable's path."""
    proc = subprocess.run(["cargo", "build", "--quiet", "--release", "--manifest-path",
                           os.path.join(ROOT, "Cargo.toml"), "-p", "kpoll-loadgen",
                           "--target-dir", TARGET_DIR], capture_output=True, text=True)
    assert proc.returncode == 0, f"building kpoll-loadgen failed: {proc.stderr[-2000:]}"
    return os.path.join(TARGET_DIR, "release", "kpoll-loadgen")


def last_json(stdout: str) -> dict[str, Any] | None:
    """The JSON summary in kpoll-loadgen's output, or None."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        return None
    report: dict[str, Any] = json.loads(line)
    return report


def run_json(vm: Guest, exe: str, options: Sequence[object], timeout: float,
             server: str = SERVER) -> tuple[subprocess.CompletedProcess[str],
                                            dict[str, Any] | None]:
    """Runs `exe --server SERVER OPTIONS...`; its process and its JSON summary (None when it
    printed none). Put --json in `options`."""
    proc = vm.host([exe, "--server", server, *map(str, options)], timeout=timeout)
    return proc, last_json(proc.stdout)


def run_loadgen(vm: Guest, exe: str, *args: object, timeout: float = 600) -> dict[str, Any]:
    """Runs kpoll-loadgen against the guest's memcached; returns its JSON report (asserts
    that there is one)."""
    proc, report = run_json(vm, exe, ["--json", *args], timeout)
    assert report is not None, f"kpoll-loadgen exited {proc.returncode}: {proc.stderr[-2000:]}"
    return report


def timed_argv(exe: str, args: Sequence[str], duration: float, warmup: float) -> list[str]:
    """A measured run: one thread, no preload (see preload()), JSON summary; its warm-up lasts
    until open_timed_run() (and at least `warmup`), then `duration - warmup` s are measured."""
    return [exe, "--server", SERVER, "--threads", "1", "--duration", str(duration), "--warmup",
            str(warmup), "--no-preload", "--drain-timeout", "5", "--start-on-stdin", "--json",
            *args]


def start_timed_run(vm: Guest, exe: str, args: Sequence[str], duration: float,
                    warmup: float) -> subprocess.Popen[str]:
    """Starts a measured run in the background, in its warm-up until open_timed_run()
    (see finish_timed_run())."""
    return vm.host_popen(timed_argv(exe, args, duration, warmup), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def open_timed_run(proc: subprocess.Popen[str]) -> None:
    """Ends the warm-up of a run of start_timed_run(): its measured part starts now."""
    assert proc.stdin is not None
    try:
        proc.stdin.write("go\n")
        proc.stdin.flush()  # finish_timed_run()'s communicate() closes it
    except BrokenPipeError:
        pass  # it has already failed; finish_timed_run() reports how


def finish_timed_run(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """Waits for a run of start_timed_run(), opened by open_timed_run(); its JSON summary, or
    {"failed": ...} when there is none."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    report = last_json(stdout)
    if report is None:
        return {"failed": True, "exit": proc.returncode, "stderr": stderr[-2000:]}
    return report


def preload(vm: Guest, exe: str, etc: bool) -> None:
    """Sets every key once with the sizes of the coming runs (fixed, or Facebook ETC)."""
    sizes = ["--key-size", "fb_key", "--value-size", "fb_value"] if etc else []
    proc, _ = run_json(vm, exe, ["--closed", "--connections", "1", "--duration", "0.5",
                                 "--warmup", "0", "--json", *sizes], 180)
    if proc.returncode != 0:
        raise RuntimeError(f"preload failed: {proc.stderr[-1000:]}")
