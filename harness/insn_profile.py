"""Exact guest-instruction profiles from QEMU's insn_profile plugin (tools/insn-profile).

The plugin counts every guest instruction by translation block; a SIGUSR2 to QEMU writes a
snapshot of the cumulative counts. The difference of two snapshots is the guest's work between
them, split by block address, which `Symbols` maps to functions (the guest kernel's
/proc/kallsyms: kernel and module text) or to "user" (every user-space address). Counted, not
sampled, as icount counts them: the same guest work gives the same numbers whatever the host
does, so a function's instructions per request can be compared between configurations exactly.
"""
from __future__ import annotations

import bisect
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass

USER = "(user space)"
UNKNOWN = "(kernel, no symbol)"
# x86-64: user addresses lie below the canonical hole, the kernel's above it.
KERNEL_START = 0xFFFF_8000_0000_0000
SNAPSHOT_TIMEOUT = 120.0


def plugin_arg(library: str, prefix: str) -> str:
    """The value of QEMU's `-plugin` option that loads the plugin with snapshots at `prefix`."""
    return f"{os.path.abspath(library)},out={prefix}"


@dataclass
class Counts:
    """Per block start address: instructions executed, and how often the block ran."""

    insns: Counter[int]
    runs: Counter[int]


def parse_snapshot(text: str) -> Counts:
    """A snapshot file's counts (blocks translated more than once are added up). Raises if the
    plugin's block table overflowed: blocks translated after that are not counted."""
    insns: Counter[int] = Counter()
    runs: Counter[int] = Counter()
    for line in text.splitlines():
        if line.startswith("# dropped "):
            if int(line.split()[2]):
                raise RuntimeError(f"insn_profile's block table overflowed: {line}")
            continue
        if not line or line.startswith("#"):
            continue
        addr, executed, entered = line.split()
        insns[int(addr, 16)] += int(executed)
        runs[int(addr, 16)] += int(entered)
    return Counts(insns, runs)


class Snapshots:
    """Takes numbered snapshots of a running QEMU that loaded the plugin with `prefix`: `take`
    returns once the snapshot is written (the guest keeps running while it is parsed)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.taken = 0

    def take(self, qemu_pid: int) -> Counts:
        """Asks QEMU for a snapshot and waits until its file is complete (renamed into place)."""
        path = f"{self.prefix}.{self.taken}"
        os.kill(qemu_pid, signal.SIGUSR2)
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no profile snapshot {path} after {SNAPSHOT_TIMEOUT:.0f} s")
            time.sleep(0.02)
        self.taken += 1
        with open(path) as f:
            text = f.read()
        os.unlink(path)
        return parse_snapshot(text)


def _difference(before: Counter[int], after: Counter[int]) -> Counter[int]:
    return Counter({a: n - before.get(a, 0) for a, n in after.items() if n > before.get(a, 0)})


def window(before: Counts, after: Counts) -> Counts:
    """What ran between two snapshots, per block."""
    return Counts(_difference(before.insns, after.insns), _difference(before.runs, after.runs))


@dataclass(frozen=True)
class Symbols:
    """Function start addresses from /proc/kallsyms text (`address type name [module]`)."""

    starts: tuple[int, ...]
    names: tuple[str, ...]

    @staticmethod
    def parse(text: str) -> Symbols:
        table: dict[int, str] = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 3 or parts[1] not in "tTwW":
                continue
            name = parts[2] + (f" {parts[3]}" if len(parts) > 3 else "")
            table.setdefault(int(parts[0], 16), name)
        if not table or set(table) == {0}:
            raise ValueError("no text symbols with addresses (is kptr_restrict set?)")
        starts = tuple(sorted(table))
        return Symbols(starts, tuple(table[a] for a in starts))

    def name(self, addr: int) -> str:
        if addr < KERNEL_START:
            return USER
        i = bisect.bisect_right(self.starts, addr) - 1
        return self.names[i] if i >= 0 else UNKNOWN

    def by_function(self, counts: Counter[int]) -> Counter[str]:
        """Instructions per function."""
        out: Counter[str] = Counter()
        for addr, n in counts.items():
            out[self.name(addr)] += n
        return out

    def entries(self, runs: Counter[int]) -> Counter[str]:
        """Calls per function: the runs of the blocks that start where a function starts (a
        loop back to a function's first instruction would count too; kernel functions open with
        a prologue, not a loop head)."""
        out: Counter[str] = Counter()
        for addr, n in runs.items():
            i = bisect.bisect_left(self.starts, addr)
            if i < len(self.starts) and self.starts[i] == addr:
                out[self.names[i]] += n
        return out


# Rust v0 mangling (`_R...`): crate disambiguators (`Cs<base62>_`), impl disambiguators
# (`Ms<base62>_`) and back-references (`B<base62>_`) are dropped before the length-prefixed
# identifiers are read. A display name only: the mangled name stays in the data.
_V0_NOISE = re.compile(r"Cs[0-9A-Za-z]+_|(?<=[MXY])s[0-9A-Za-z]*_|B[0-9A-Za-z]*_")
_V0_IDENT = re.compile(r"(\d+)_?")


def readable(function: str, depth: int = 3) -> str:
    """`name [module]` with a Rust v0 name shortened to its last `depth` path identifiers (a
    display name: two functions can share one, see `labels`)."""
    name, _, module = function.partition(" ")
    if not name.startswith("_R"):
        return function
    body = _V0_NOISE.sub("", name[2:])
    idents: list[str] = []
    i = 0
    while i < len(body):
        m = _V0_IDENT.match(body, i)
        if not m:
            i += 1
            continue
        n, start = int(m.group(1)), m.end()
        ident = body[start:start + n]
        if n and len(ident) == n and re.fullmatch(r"\w+", ident):
            idents.append(ident)
            i = start + n
        else:
            i = m.end()
    short = "::".join(idents[-depth:]) if idents else name
    return f"{short} {module}".strip()


def labels(functions: list[str]) -> dict[str, str]:
    """Display names for `functions`: `readable`, with every path identifier where two would
    read the same (trait impls of different types: the impl's own type is named earlier)."""
    short = {f: readable(f) for f in functions}
    seen = Counter(short.values())
    return {f: readable(f, 99) if seen[r] > 1 else r for f, r in short.items()}


def module_of(function: str) -> str:
    """`name [module]` -> module; a kernel function or user space -> ''."""
    return function.rsplit("[", 1)[1].rstrip("]") if function.endswith("]") else ""
