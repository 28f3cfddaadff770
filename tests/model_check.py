"""Exhaustive SPIN model checks of kpoll's NAPI hold protocol (model/napi_hold.pml) and of
virtio_net's send queue under a hold (model/virtio_tx.pml).

Adds five test records:

- "model: hold protocol, exhaustive": the design of the patch (per-CPU kpoll_polling /
  kpoll_parked, the model's default), alone with a prefer-busy-poll poller, and with
  napi_disable()/napi_enable() and netif_napi_del()/netif_napi_add() racing with the holder.
  Every search must be complete (no depth truncation) and find no error; a witness search must
  reach the scenarios the design is about (a held NAPI completed by __napi_poll()'s
  prefer-busy-poll branch, a parking in busy_poll_stop(), a parking on the second CPU, a
  repoll from napi_kpoll_poll_done()), so that the model is known not to miss them. If a
  search finds an error, the failure shows the shortest counterexample, and the shortest trail
  of what it leads to when only the end-state properties are checked.
- "model: old design (6.12 patch before this issue): counterexample found": the original
  design (-DOLD_DESIGN) must fail: its search finds an error, the shortest trail to the dead
  queue (finding 1) is replayed and returned as the note, and with napi_disable() the check
  that no hold is set on a disabled NAPI fails too.
- "model: global PARKING bit design: counterexample found": the intermediate design
  (-DPARKING_BIT) must fail in both ways it is known to: a napi_kpoll_poll_done() acting on a
  parking that another CPU's poll made (the shortest trail without the prefer-busy-poll poller)
  and a held NAPI parked by __napi_poll()'s prefer-busy-poll completion, after
  napi_kpoll_poll_done() has run, so that it stays scheduled with nobody to poll it.
- "model: virtio send-queue interrupt left off while held, exhaustive": patch 0002's design in
  five scenarios (module unload, a lock holder that never re-arms, a second hold), each
  complete with no used buffer left unreaped.
- "model: virtio send queue, three broken variants: counterexamples found": without the
  send-NAPI schedule, with it gated on kpoll_key, and with the note written after the read of
  the hold, each must leave a used buffer unreaped; the shortest trails are the note.

Each search runs `spin -a` in a temporary directory, compiles `pan` with gcc and runs it; the
directory is removed afterwards. The searches of a record run two at a time. Needs spin (6.x)
and gcc on PATH.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "napi_hold.pml"
TX_MODEL_NAME = "virtio_tx.pml"

SPIN_TIMEOUT = 60.0
CC_TIMEOUT = 180.0
PAN_TIMEOUT = 150.0
FIRST_DEPTH = 100_000      # pan -m: far above the ~350 steps the model needs
LAST_DEPTH = 10_000_000
TRAIL_LINES = 40           # a replayed counterexample is cut to its last lines beyond this
WORKERS = max(1, min(2, os.cpu_count() or 1))  # each search is one process

# Configurations of the patch's design that must pass: (label, spin -D options). The
# prefer-busy-poll poller (PBP_STEPS, 1 attempt by default) and a racing napi_disable()
# together multiply the state space, so with a disable either the application takes 2 actions
# and there is no such poller, or it takes 1 action (a hold) and the poller is there.
NEW_DESIGN_CONFIGS: list[tuple[str, list[str]]] = [
    ("alone, 3 application actions, prefer-busy-poller", []),
    ("napi_disable/napi_enable, 2 application actions",
     ["-DWITH_DISABLE", "-DAPP_STEPS=2", "-DPBP_STEPS=0"]),
    ("napi_disable/netif_napi_del/netif_napi_add/napi_enable, 2 application actions",
     ["-DWITH_DISABLE", "-DWITH_DEL", "-DAPP_STEPS=2", "-DPBP_STEPS=0"]),
    ("napi_disable/napi_enable, 1 application action, prefer-busy-poller",
     ["-DWITH_DISABLE", "-DAPP_STEPS=1"]),
]

# -DWITNESS bits (model/napi_hold.pml): reachability checks, each an assertion that must fail.
WITNESSES: dict[int, tuple[str, str]] = {
    1: ("a held NAPI completed by the prefer-busy-poll branch", "(st&(64|4))!=64"),
    2: ("a parking inside busy_poll_stop()", "me!=app_CPU0"),
    4: ("a parking on CPU1", "!=1)"),
    8: ("napi_kpoll_poll_done() polling again", "assertion violated 0 "),
}
WITNESS_DEFINES = [f"-DWITNESS={sum(WITNESSES)}", "-DAPP_STEPS=2"]


class Recorder(Protocol):
    """The part of tests/tap.py's Results that this module uses."""

    def run(self, name: str, fn: Callable[..., object], *args: object) -> object: ...


@dataclass(frozen=True)
class Job:
    """One search: spin -D options, breadth-first (a shortest counterexample) or depth-first,
    replay the trail of an error, keep searching after errors (witnesses), optimise pan."""

    defines: tuple[str, ...]
    model: str = MODEL_NAME  # a file of model/
    bfs: bool = False
    replay: bool = False
    all_errors: bool = False
    optimize: bool = True


@dataclass
class Search:
    """One pan run: what it reported and, if it found an error, the replayed trail."""

    defines: list[str]
    errors: int
    states: int
    depth: int
    seconds: float
    wall: float
    complete: bool
    violation: str
    output: str
    trail: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.states:,} states, depth {self.depth}, {self.seconds:.1f} s pan time "
                f"({self.wall:.0f} s with spin and gcc)")


def _run(cmd: list[str], cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs cmd; an error exit or a timeout is an AssertionError that names the command."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{' '.join(cmd)}: no result within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {proc.returncode}:\n"
                             f"{(proc.stderr or proc.stdout)[-2000:]}")
    return proc


def _number(pattern: str, text: str, what: str) -> float:
    match = re.search(pattern, text)
    assert match, f"pan's output has no {what}:\n{text[-2000:]}"
    return float(match.group(1))


def _replay(workdir: str, defines: list[str], model: str) -> list[str]:
    """The trail of the last search as its annotation lines ("MSC: ...") and the violation."""
    proc = _run(["spin", "-T", "-t", *defines, model], workdir, SPIN_TIMEOUT)
    lines: list[str] = []
    for raw in proc.stdout.splitlines():
        if raw.startswith("MSC: "):
            text = raw[len("MSC: "):].split("spin: ")[0].rstrip()  # an assertion cuts a line
            if text:
                lines.append(re.sub(r"\s+\[", "  [", text))
        if "text of failed assertion" in raw or "invalid end state" in raw:
            lines.append(raw[raw.index("spin: ") + len("spin: "):].strip()
                         if "spin: " in raw else raw.strip())
    if len(lines) > TRAIL_LINES:
        cut = len(lines) - TRAIL_LINES + 1
        lines = [f"... ({cut} earlier steps)"] + lines[cut:]
    return lines


def _search(job: Job) -> Search:
    """Generates, compiles and runs the verifier for the model with the job's -D options."""
    assert shutil.which("spin"), "spin is not installed (SPIN 6.x, /usr/bin/spin)"
    assert shutil.which("gcc"), "gcc is not installed"
    defines = list(job.defines)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kpoll-spin-") as workdir:
        shutil.copy(os.path.join(ROOT, "model", job.model), workdir)
        _run(["spin", *defines, "-a", job.model], workdir, SPIN_TIMEOUT)
        cflags = ["-O2" if job.optimize else "-O0", "-DSAFETY",
                  "-DBFS" if job.bfs else "-DCOLLAPSE"]
        _run(["gcc", *cflags, "-o", "pan", "pan.c"], workdir, CC_TIMEOUT)
        depth = FIRST_DEPTH
        while True:
            pan = ["./pan", f"-m{depth}"] + (["-c0"] if job.all_errors else [])
            out = _run(pan, workdir, PAN_TIMEOUT).stdout
            if "max search depth too small" not in out or depth >= LAST_DEPTH:
                break
            depth *= 10
        errors = int(_number(r"errors: (\d+)", out, "error count"))
        violation = next((line.strip() for line in out.splitlines()
                          if "assertion violated" in line or "invalid end state (" in line), "")
        search = Search(
            defines=defines,
            errors=errors,
            states=int(_number(r"(\d+) states, stored", out, "state count")),
            depth=int(_number(r"depth reached (\d+)", out, "depth")),
            seconds=_number(r"pan: elapsed time ([0-9.e+]+) seconds", out, "elapsed time"),
            wall=0.0,
            complete=("max search depth too small" not in out
                      and (errors > 0 or "Search not completed" not in out)),
            violation=violation,
            output=out,
        )
        if errors and job.replay:
            search.trail = _replay(workdir, defines, job.model)
    search.wall = time.monotonic() - start
    return search


def _searches(jobs: list[Job]) -> list[Search]:
    """Runs the jobs, WORKERS at a time, in order of the list."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(_search, jobs))


def _spin_cmd(defines: list[str], model: str = MODEL_NAME) -> str:
    return " ".join(["spin", *defines, "-t", model])


def _new_design() -> str:
    jobs = [Job(tuple(defines)) for _, defines in NEW_DESIGN_CONFIGS]
    jobs.append(Job(tuple(WITNESS_DEFINES), all_errors=True))
    *searches, witness = _searches(jobs)
    notes: list[str] = []
    failures: list[str] = []
    for (label, defines), search in zip(NEW_DESIGN_CONFIGS, searches, strict=False):
        flags = " ".join(defines) or "(no -D)"
        if search.errors == 0 and search.complete:
            notes.append(f"{label} [{flags}]: {search.summary()}, 0 errors, complete")
            continue
        if search.errors == 0:
            failures.append(f"{label}: search not complete:\n{search.output[-1500:]}")
            continue
        failures.append(f"{label} [{flags}]: {search.errors} error(s): {search.violation}")
        if len(failures) == 1:
            shortest, consequence = _searches([
                Job(tuple(defines), bfs=True, replay=True),
                Job(tuple(defines + ["-DEND_ONLY"]), bfs=True, replay=True)])
            failures.append(f"shortest counterexample ({_spin_cmd(defines)}):")
            failures.extend("  " + line for line in shortest.trail)
            if consequence.errors:
                failures.append("what it leads to, end-state properties only (-DEND_ONLY):")
                failures.extend("  " + line for line in consequence.trail)
    missed = [what for what, text in WITNESSES.values() if text not in witness.output]
    if missed:
        failures.append("the search no longer reaches: " + "; ".join(missed))
    else:
        notes.append(f"witnesses reached [{' '.join(WITNESS_DEFINES)}]: "
                     + "; ".join(what for what, _ in WITNESSES.values())
                     + f" ({witness.summary()})")
    assert not failures, "the design of the patch fails the model check:\n" + "\n".join(failures)
    return "\n".join(notes)


def _old_design() -> str:
    full, dead, held = _searches([
        Job(("-DOLD_DESIGN",), optimize=False),
        Job(("-DOLD_DESIGN", "-DEND_ONLY", "-DPBP_STEPS=0"), bfs=True, replay=True),
        Job(("-DOLD_DESIGN", "-DWITH_DISABLE", "-DEND_ONLY", "-DPBP_STEPS=0"), bfs=True,
            optimize=False)])
    assert full.errors >= 1, (
        "the old design passes the model check: the model can no longer find finding 1 "
        f"({full.summary()})")
    assert dead.errors >= 1, "the old design reaches no bad end state"
    assert "cb==1" in dead.violation, (
        f"expected the dead queue (callbacks off at the end), got: {dead.violation}")
    assert dead.trail, "the counterexample could not be replayed"
    assert held.errors >= 1 and "napi_off" in held.violation, (
        f"expected a hold set on a disabled NAPI, got: {held.violation or 'no error'}")
    return "\n".join([
        f"all properties [-DOLD_DESIGN]: {full.violation} ({full.summary()})",
        (f"with napi_disable [-DOLD_DESIGN -DWITH_DISABLE -DEND_ONLY -DPBP_STEPS=0, BFS]: "
         f"{held.violation} ({held.summary()})"),
        (f"finding 1, the dead queue, shortest trail "
         f"[{_spin_cmd(dead.defines)}, BFS] ({dead.summary()}):"),
        *("  " + line for line in dead.trail),
    ])


def _parking_bit_design() -> str:
    stale, prefer = _searches([
        Job(("-DPARKING_BIT", "-DPBP_STEPS=0"), bfs=True, replay=True),
        Job(("-DPARKING_BIT",), bfs=True, replay=True)])
    assert stale.errors >= 1, (
        "the PARKING bit design passes without the prefer-busy-poller: the model can no "
        f"longer find the stale napi_kpoll_poll_done() ({stale.summary()})")
    assert "parker==_pid" in stale.violation, (
        f"expected a napi_kpoll_poll_done() acting on another poll's parking, got: "
        f"{stale.violation}")
    assert prefer.errors >= 1, (
        f"the PARKING bit design passes with the prefer-busy-poller ({prefer.summary()})")
    assert "owner!=_pid" in prefer.violation and any(
        "PARKING set" in line for line in prefer.trail), (
        f"expected a NAPI parked after napi_kpoll_poll_done() and left scheduled, got: "
        f"{prefer.violation}")
    return "\n".join([
        (f"a stale napi_kpoll_poll_done() acts on another CPU's parking, shortest trail "
         f"[{_spin_cmd(stale.defines)}, BFS] ({stale.summary()}):"),
        *("  " + line for line in stale.trail),
        (f"the prefer-busy-poll completion parks after napi_kpoll_poll_done(): SCHED stays "
         f"set, nobody polls; shortest trail [{_spin_cmd(prefer.defines)}, BFS] "
         f"({prefer.summary()}):"),
        *("  " + line for line in prefer.trail),
    ])


# Scenarios of model/virtio_tx.pml that the patch's design must pass: (label, spin -D options).
TX_CONFIGS: list[tuple[str, list[str]]] = [
    ("1 transmit, 1 poll while held", ["-DNXMIT=1"]),
    ("2 transmits, 1 poll while held", []),
    ("hold taken again after the release, 3 transmits, 2 polls per hold",
     ["-DREHOLD", "-DNXMIT=3", "-DNHELD=2"]),
    ("module unload, another lock holder, hold taken again, 1 transmit",
     ["-DUNLOAD", "-DOTHER_LOCKER", "-DREHOLD", "-DNXMIT=1"]),
    ("module unload, another lock holder, hold taken again, 3 transmits, 2 polls per hold",
     ["-DUNLOAD", "-DOTHER_LOCKER", "-DREHOLD", "-DNXMIT=3", "-DNHELD=2"]),
]

# Broken variants that must fail with a used buffer left unreaped: (what goes wrong, -D).
TX_BROKEN: list[tuple[str, list[str]]] = [
    (("without the send-NAPI schedule: a transmit reads the hold before the release and still "
      "holds the queue lock when the release's receive poll tries it"),
     ["-DNO_RESCHEDULE", "-DNXMIT=1"]),
    (("the first version, schedule gated on kpoll_key: the unload turns the key off between "
      "the release and its receive poll"), ["-DKEY_GATED", "-DUNLOAD", "-DNXMIT=1"]),
    (("the note written after the read of the hold that decides: the release and its poll "
      "fit in between"), ["-DREAD_THEN_NOTE", "-DNXMIT=1"]),
]


def _virtio_tx() -> str:
    searches = _searches([Job(tuple(defines), model=TX_MODEL_NAME)
                          for _, defines in TX_CONFIGS])
    notes: list[str] = []
    for (label, defines), search in zip(TX_CONFIGS, searches, strict=True):
        flags = " ".join(defines) or "(no -D)"
        if search.errors:
            shortest, = _searches([Job(tuple(defines), model=TX_MODEL_NAME, bfs=True,
                                       replay=True)])
            raise AssertionError("\n".join([
                f"virtio send-queue design fails [{flags}]: {search.violation}",
                f"shortest counterexample ({_spin_cmd(defines, TX_MODEL_NAME)}):",
                *("  " + line for line in shortest.trail)]))
        assert search.complete, f"{label}: search not complete:\n{search.output[-1500:]}"
        notes.append(f"{label} [{flags}]: {search.summary()}, 0 errors, complete")
    return "\n".join(notes)


def _virtio_tx_broken() -> str:
    searches = _searches([Job(tuple(defines), model=TX_MODEL_NAME, bfs=True, replay=True)
                          for _, defines in TX_BROKEN])
    notes: list[str] = []
    for (what, defines), search in zip(TX_BROKEN, searches, strict=True):
        assert search.errors >= 1, (
            f"{' '.join(defines)} passes: the model can no longer find it ({what}; "
            f"{search.summary()})")
        assert "used==0" in search.violation, (
            f"{' '.join(defines)}: expected a used buffer left unreaped, got: "
            f"{search.violation}")
        notes.append(f"{what}; shortest trail [{_spin_cmd(defines, TX_MODEL_NAME)}, BFS] "
                     f"({search.summary()}):")
        notes.extend("  " + line for line in search.trail)
    return "\n".join(notes)


def run(results: Recorder) -> None:
    """Adds the model-check records to results (tests/tap.py's Results)."""
    results.run("model: hold protocol, exhaustive", _new_design)
    results.run("model: old design (6.12 patch before this issue): counterexample found",
                _old_design)
    results.run("model: global PARKING bit design: counterexample found",
                _parking_bit_design)
    results.run("model: virtio send-queue interrupt left off while held, exhaustive",
                _virtio_tx)
    results.run("model: virtio send queue, three broken variants: counterexamples found",
                _virtio_tx_broken)
