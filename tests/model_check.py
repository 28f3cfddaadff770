"""Exhaustive SPIN model check of kpoll's NAPI hold protocol (model/napi_hold.pml).

Adds two test records:

- "model: hold protocol, new design, exhaustive": the design of the patch, alone, with
  napi_disable()/napi_enable() and with netif_napi_del()/netif_napi_add() racing with the
  holder. Every search must be complete (no depth truncation) and find no error. If one finds
  an error, the failure shows the shortest counterexample, and the shortest trail of what it
  leads to when only the end-state properties are checked.
- "model: hold protocol, old design, counterexample found": the previous design must fail
  (else the model could not find the bug it was written for): its search finds an error, the
  shortest trail to the dead queue (finding 1) is replayed and returned as the note, and with
  napi_disable() the check that no hold is set on a disabled NAPI fails too.

Each search runs `spin -a` in a temporary directory, compiles `pan` with gcc and runs it; the
directory is removed afterwards. Needs spin (6.x) and gcc on PATH.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Protocol

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "model", "napi_hold.pml")
MODEL_NAME = os.path.basename(MODEL)

SPIN_TIMEOUT = 60.0
CC_TIMEOUT = 180.0
PAN_TIMEOUT = 110.0
FIRST_DEPTH = 100_000      # pan -m: far above the ~300 steps the model needs
LAST_DEPTH = 10_000_000
TRAIL_LINES = 40           # a replayed counterexample is cut to its last lines beyond this

# Configurations of the new design that must pass: (label, spin -D options). With a racing
# napi_disable() the application takes 2 actions instead of 3, which halves the state space
# (about 8 million states instead of 15).
NEW_DESIGN_CONFIGS: list[tuple[str, list[str]]] = [
    ("alone", []),
    ("with napi_disable/napi_enable", ["-DWITH_DISABLE", "-DAPP_STEPS=2"]),
    ("with napi_disable/del/add/enable", ["-DWITH_DISABLE", "-DWITH_DEL", "-DAPP_STEPS=2"]),
]


class Recorder(Protocol):
    """The part of tests/tap.py's Results that this module uses."""

    def run(self, name: str, fn: Callable[..., object], *args: object) -> object: ...


@dataclass
class Search:
    """One pan run: what it reported and, if it found an error, the replayed trail."""

    defines: list[str]
    errors: int
    states: int
    depth: int
    seconds: float
    complete: bool
    violation: str
    output: str
    trail: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.states:,} states, depth {self.depth}, {self.seconds:.2f} s pan time"


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


def _replay(workdir: str, defines: list[str]) -> list[str]:
    """The trail of the last search as its annotation lines ("MSC: ...") and the violation."""
    proc = _run(["spin", "-T", "-t", *defines, MODEL_NAME], workdir, SPIN_TIMEOUT)
    lines: list[str] = []
    for raw in proc.stdout.splitlines():
        if raw.startswith("MSC: "):
            text = raw[len("MSC: "):].split("spin: ")[0].rstrip()  # an assertion cuts a line
            lines.append(re.sub(r"\s+\[", "  [", text))
        elif "text of failed assertion" in raw or "invalid end state" in raw:
            lines.append(raw.replace("spin: ", "").strip())
    if len(lines) > TRAIL_LINES:
        cut = len(lines) - TRAIL_LINES + 1
        lines = [f"... ({cut} earlier steps)"] + lines[cut:]
    return lines


def _search(defines: list[str], bfs: bool = False, replay: bool = False) -> Search:
    """Generates, compiles and runs the verifier for the model with these -D options.
    bfs: breadth-first, so that a counterexample is a shortest one. replay: replay the trail
    of an error found."""
    assert shutil.which("spin"), "spin is not installed (SPIN 6.x, /usr/bin/spin)"
    assert shutil.which("gcc"), "gcc is not installed"
    with tempfile.TemporaryDirectory(prefix="kpoll-spin-") as workdir:
        shutil.copy(MODEL, workdir)
        _run(["spin", *defines, "-a", MODEL_NAME], workdir, SPIN_TIMEOUT)
        cflags = ["-O2", "-DSAFETY", "-DBFS" if bfs else "-DCOLLAPSE"]
        _run(["gcc", *cflags, "-o", "pan", "pan.c"], workdir, CC_TIMEOUT)
        depth = FIRST_DEPTH
        while True:
            out = _run(["./pan", f"-m{depth}"], workdir, PAN_TIMEOUT).stdout
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
            complete=("max search depth too small" not in out
                      and (errors > 0 or "Search not completed" not in out)),
            violation=violation,
            output=out,
        )
        if errors and replay:
            search.trail = _replay(workdir, defines)
        return search


def _new_design() -> str:
    notes: list[str] = []
    failures: list[str] = []
    workers = max(1, min(2, os.cpu_count() or 1))  # each search is one process
    with ThreadPoolExecutor(max_workers=workers) as pool:
        searches = list(pool.map(_search, [defines for _, defines in NEW_DESIGN_CONFIGS]))
    for (label, defines), search in zip(NEW_DESIGN_CONFIGS, searches):
        if search.errors == 0 and search.complete:
            notes.append(f"{label}: {search.summary()}, 0 errors")
            continue
        if search.errors == 0:
            failures.append(f"{label}: search not complete:\n{search.output[-1500:]}")
            continue
        failures.append(f"{label}: {search.errors} error(s): {search.violation}")
        if len(failures) == 1:
            shortest = _search(defines, bfs=True, replay=True)
            failures.append("shortest counterexample (spin "
                            + " ".join(defines + ["-t", MODEL_NAME]) + "):")
            failures.extend("  " + line for line in shortest.trail)
            consequence = _search(defines + ["-DEND_ONLY"], bfs=True, replay=True)
            if consequence.errors:
                failures.append("what it leads to, end-state properties only (-DEND_ONLY):")
                failures.extend("  " + line for line in consequence.trail)
    assert not failures, "the new design fails the model check:\n" + "\n".join(failures)
    return "\n".join(notes)


def _old_design() -> str:
    full = _search(["-DOLD_DESIGN"])
    assert full.errors >= 1, (
        "the old design passes the model check: the model can no longer find finding 1 "
        f"({full.summary()})")
    dead = _search(["-DOLD_DESIGN", "-DEND_ONLY"], bfs=True, replay=True)
    assert dead.errors >= 1, "the old design reaches no bad end state"
    assert "cb==1" in dead.violation, (
        f"expected the dead queue (callbacks off at the end), got: {dead.violation}")
    assert dead.trail, "the counterexample could not be replayed"
    held = _search(["-DOLD_DESIGN", "-DWITH_DISABLE", "-DEND_ONLY"], bfs=True)
    assert held.errors >= 1 and "napi_off" in held.violation, (
        f"expected a hold set on a disabled NAPI, got: {held.violation or 'no error'}")
    return "\n".join([
        f"all properties: {full.violation}",
        f"with napi_disable: {held.violation}",
        f"dead queue, shortest trail ({dead.summary()}):",
        *("  " + line for line in dead.trail),
    ])


def run(results: Recorder) -> None:
    """Adds the model-check records to results (tests/tap.py's Results)."""
    results.run("model: hold protocol, new design, exhaustive", _new_design)
    results.run("model: hold protocol, old design, counterexample found", _old_design)

