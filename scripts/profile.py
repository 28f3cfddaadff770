#!/usr/bin/env python3
"""Where a configuration's guest instructions per request go, function by function, exactly.

Boots the guest once under `-icount` with the insn_profile TCG plugin (tools/insn-profile),
starts memcached, and runs adjacent windows of one load, the configurations alternating (AB, BA,
...) as in the benchmark's paired windows. Before each window's load starts and after it ends the
plugin writes a snapshot of every guest instruction executed, by address; the difference, mapped
to the guest's functions through its /proc/kallsyms (read in each window, as a module's addresses
can change at each load), is that window's work. Divided by memcached's request count, the table
says which functions cost a configuration more instructions per request than the base, and by
how much. The hooks' rows are exact; the totals also hold work that comes with time rather than
requests (timer ticks, memcached's background threads), so they move with each window's rate.

Usually started by scripts/profile.sh, which builds the kernel, the guest and the plugin.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from harness import bench_configs as bc
from harness import insn_profile as ip
from harness import neighbours
from harness.bench_run import LOADS, log
from harness.env import CACHE
from harness.load_run import edge_busy_ns, read_window_edge
from harness.loadgen import (
    build_loadgen,
    finish_timed_run,
    open_timed_run,
    preload,
    start_timed_run,
)
from harness.memcached import memcached_ops, start_memcached, stop_memcached
from harness.vm import Vm

TOP = 40  # functions listed in the report
# A window keeps the functions with at least this many instructions per request in profile.json
# (the parts are whole sums); one that is missing from a window counts as 0 there, off by less.
KEPT_PER_REQUEST = 0.01
PARTS = {"all": "all", "kernel": "kernel", "modules (kpoll.ko)": "modules",
         "user space": "user"}
# The bench's metric around the same windows: guest busy ns between two read_window_edge() just
# outside the snapshots, less the edge reads' own busy time (edge_busy_ns(), as the bench takes
# it out; under `-icount shift=0`, busy instructions), so that a difference the bench finds and
# the profile does not can be told apart from a difference in the windows. It holds the two
# request-count reads besides the profiled window. Profiles made before it have no such row.
BUSY = ("busy ns around the window, edge reads taken out (the bench's metric)", "busy")


def parts(functions: Counter[str]) -> dict[str, int]:
    """A window's instructions summed by part: all, kernel (built in), modules, user space."""
    user = functions.get(ip.USER, 0)
    modules = sum(n for f, n in functions.items() if ip.module_of(f))
    everything = sum(functions.values())
    return {"all": everything, "kernel": everything - user - modules, "modules": modules,
            "user": user}


def kallsyms(vm: Vm) -> ip.Symbols:
    """The guest's text symbols now (kernel and loaded modules)."""
    return ip.Symbols.parse(vm.check("grep -i ' [tw] ' /proc/kallsyms", timeout=300))


def profile_window(vm: Vm, snaps: ip.Snapshots, exe: str, load_args: list[str],
                   duration: float, warmup: float
                   ) -> tuple[int, Counter[str], Counter[str], dict[str, Any], int]:
    """One window of the load: its requests, its instructions and calls by function, the load
    generator's summary, and the guest's busy ns around it as the bench measures it (see
    [BUSY]). No load crosses the window's edges: the first snapshot and request count are
    taken before the load generator starts, the last ones after it has finished, so the window
    holds the whole run (its warm-up too, whose requests are counted as well) and the two
    statistics requests that count them. The busy-time reads lie outside the snapshots, so no
    function's count holds them."""
    assert vm.proc is not None
    symbols = kallsyms(vm)
    edge_ns = edge_busy_ns(vm)
    edge0 = read_window_edge(vm)
    before = snaps.take(vm.proc.pid)
    ops0 = memcached_ops(vm)
    proc = start_timed_run(vm, exe, load_args, duration, warmup)
    try:
        time.sleep(warmup)
        open_timed_run(proc)
        summary = finish_timed_run(proc, duration + warmup + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
    ops1 = memcached_ops(vm)
    after = snaps.take(vm.proc.pid)
    edge1 = read_window_edge(vm)
    if summary.get("failed") or ops1 <= ops0:
        raise RuntimeError(f"the load run failed ({ops1 - ops0} requests): {summary}")
    ran = ip.window(before, after)
    return (ops1 - ops0, symbols.by_function(ran.insns), symbols.entries(ran.runs), summary,
            edge1.busy_ns - edge0.busy_ns - edge_ns)


def per_request(windows: list[dict[str, Any]], config: str,
                key: str = "functions") -> dict[str, list[float]]:
    """Instructions (or calls, `key="calls"`) per request of each function in each window of
    `config`."""
    mine = [w for w in windows if w["config"] == config]
    names = {f for w in mine for f in w[key]}
    return {f: [w[key].get(f, 0) / w["requests"] for w in mine] for f in names}


def report(data: dict[str, Any]) -> str:
    base, cand = data["configs"]
    windows = data["windows"]
    b, c = per_request(windows, base), per_request(windows, cand)
    bc_, cc = per_request(windows, base, "calls"), per_request(windows, cand, "calls")

    def med(table: dict[str, list[float]], f: str) -> float:
        vals = table.get(f)
        return statistics.median(vals) if vals else 0.0

    def total(config: str, part: str) -> list[float]:
        return [w["parts"][part] / w["requests"] for w in windows
                if w["config"] == config and part in w["parts"]]

    lines = [f"# Instructions per request by function: {cand} against {base}", "",
             (f"Load `{data['load']}`, {data['pairs']} pairs of {data['duration']} s windows "
             f"in one memcached, one icount boot; kernel `{data['kernel']}`. Instructions per "
             "request: medians over the windows [min–max]. A function's rows are exact; the "
             "totals also hold work that comes with time rather than requests (timer ticks, "
             "memcached's background threads), so they move with each window's rate."), "",
             "| part | " + base + " | " + cand + " | difference |", "|---|---:|---:|---:|"]
    rows = list(PARTS.items())
    if any(BUSY[1] in w["parts"] for w in windows):
        rows.append(BUSY)
    for label, part in rows:
        tb, tc = total(base, part), total(cand, part)
        mb, mc = (statistics.median(tb) if tb else 0.0), (statistics.median(tc) if tc else 0.0)
        lines.append(f"| {label} | {mb:.0f} [{min(tb, default=0):.0f}–{max(tb, default=0):.0f}]"
                     f" | {mc:.0f} [{min(tc, default=0):.0f}–{max(tc, default=0):.0f}]"
                     f" | {mc - mb:+.0f} |")
    lines += ["", f"Functions by the difference of their medians ({TOP} largest):", "",
              (f"| function | {base} | {cand} | difference | {cand} windows min–max "
              f"| calls/request {base} | {cand} |"),
              "|---|---:|---:|---:|---:|---:|---:|"]
    # Ties by name: the order (and the cut at TOP) must not depend on set iteration order.
    diffs = sorted(set(b) | set(c), key=lambda f: (-abs(med(c, f) - med(b, f)), f))[:TOP]
    names = ip.labels(diffs)
    for f in diffs:
        vals = c.get(f, [0.0])
        lines.append(f"| `{names[f]}` | {med(b, f):.1f} | {med(c, f):.1f} | "
                     f"{med(c, f) - med(b, f):+.1f} | {min(vals):.1f}–{max(vals):.1f} | "
                     f"{med(bc_, f):.2f} | {med(cc, f):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--plugin", required=True, help="insn_profile.so")
    ap.add_argument("--configs", default="vanilla,kpoll", help="BASE,CANDIDATE")
    ap.add_argument("--load", default="low", choices=[ld.name for ld in LOADS if ld.closed])
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--out", default=os.path.join(CACHE, "profile"))
    ap.add_argument("--report-only", action="store_true",
                    help="re-render OUT/report.md from OUT/profile.json; no run")
    args = ap.parse_args()
    json_path = os.path.join(args.out, "profile.json")
    if args.report_only:
        with open(json_path) as f:
            text = report(json.load(f))
        with open(os.path.join(args.out, "report.md"), "w") as f:
            f.write(text)
        print(text)
        return 0
    configs = [bc.by_name(n) for n in args.configs.split(",")]
    if len(configs) != 2:
        sys.exit("--configs: BASE,CANDIDATE")
    load = next(ld for ld in LOADS if ld.name == args.load)
    exe = build_loadgen()
    os.makedirs(args.out, exist_ok=True)
    data: dict[str, Any] = {"configs": [c.name for c in configs], "load": load.name,
                            "pairs": args.pairs, "duration": args.duration,
                            "kernel": os.path.abspath(args.kernel), "windows": []}
    with tempfile.TemporaryDirectory(prefix="kpoll-profile-") as tmp:
        snaps = ip.Snapshots(os.path.join(tmp, "snap"))
        plugin = ip.plugin_arg(args.plugin, snaps.prefix)
        with Vm(args.kernel, args.initrd, icount=True, plugin=plugin,
                log_path=os.path.join(args.out, "console.log")) as vm:
            neighbours.pin(vm)
            start_memcached(vm)
            try:
                preload(vm, exe, False)
                for pair in range(args.pairs):
                    for cfg in configs if pair % 2 == 0 else configs[::-1]:
                        bc.set_up(vm, cfg)
                        try:
                            requests, functions, calls, summary, busy = profile_window(
                                vm, snaps, exe, load.argv(0), args.duration, args.warmup)
                        finally:
                            bc.tear_down(vm, cfg)
                        split = parts(functions)
                        split[BUSY[1]] = busy
                        log(f"pair {pair + 1}/{args.pairs} {cfg.name:8s} {requests} requests, "
                            f"{split['all'] / max(requests, 1):.0f} instructions/request, "
                            f"{busy / max(requests, 1):.0f} busy ns/request")
                        data["windows"].append({
                            "config": cfg.name, "pair": pair, "requests": requests,
                            "rate": summary.get("achieved_rps"), "parts": split,
                            "functions": {f: n for f, n in functions.most_common()
                                          if n >= KEPT_PER_REQUEST * requests},
                            "calls": {f: n for f, n in calls.items()
                                      if functions.get(f, 0) >= KEPT_PER_REQUEST * requests}})
            finally:
                stop_memcached(vm)
            problems = vm.console_problems()
    if problems:
        data["console_problems"] = problems
    with open(json_path, "w") as f:
        json.dump(data, f, indent=1)
    text = report(data)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
