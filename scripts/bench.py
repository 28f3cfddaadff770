#!/usr/bin/env python3
"""kpoll benchmark: unmodified memcached in two guest boots of one kernel (a wall-clock boot for
rates and latencies, an icount boot for guest instructions per request), every configuration of
harness/bench_configs.py under every load of harness/bench_run.py, repetitions with a rotating
configuration order. Writes results.json and report.md into --out.

Usually started by scripts/bench.sh (`make bench`), which builds everything first; by hand, run
it from the repository root as `python3 -m scripts.bench`.
"""
import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from typing import Any

from harness import bench_configs, bench_run
from harness.bench_report import make_report
from harness.env import CACHE, ROOT
from harness.loadgen import build_loadgen
from harness.vm import Vm


def _cmd(argv: list[str]) -> str | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment(vm: Vm, args: argparse.Namespace) -> dict[str, Any]:
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1) if m else None
    except OSError:
        pass
    qemu = _cmd(["qemu-system-x86_64", "--version"])
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "qemu": qemu.splitlines()[0] if qemu else None, "host_nproc": os.cpu_count(),
        "host_cpu": cpu, "host_kernel": platform.release(),
        "guest_kernel": vm.check("uname -r").strip(),
        "flavour": os.environ.get("KPOLL_FLAVOUR", "release"),
        "memcached": vm.check("memcached -V").strip(),
        "git_commit": _cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "kernel_image": os.path.abspath(args.kernel), "initrd": os.path.abspath(args.initrd),
    }


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--report-only", metavar="DIR",
                    help="re-render DIR/report.md from DIR/results.json; no run")
    ap.add_argument("--loadgen", help="kpoll-loadgen executable (default: build it, "
                                      "harness.loadgen.build_loadgen)")
    ap.add_argument("--out", help="output folder (default $KPOLL_CACHE/bench-results/<time>, "
                                  "or docs/results with --commit-results)")
    ap.add_argument("--commit-results", action="store_true",
                    help="write into docs/results/ (the committed result set)")
    ap.add_argument("--mode", choices=sorted(bench_run.PROFILES), default="full")
    ap.add_argument("--reps", type=int, help="repetitions (default: the mode's)")
    ap.add_argument("--duration", type=float, help="seconds per measured window (default: the "
                    "mode's); longer windows average more of the guest's background work")
    ap.add_argument("--pairs", type=int, help="paired low-load windows, vanilla and kpoll "
                    "alternating in one memcached (default: the mode's; 0: none)")
    ap.add_argument("--pair-configs", metavar="BASE,CANDIDATE",
                    help="the two configurations of the pairs (default vanilla,kpoll; both "
                         "must also be in --configs)")
    ap.add_argument("--loads", help="comma-separated subset of the mode's loads (default all): "
                    + ", ".join(ld.name for ld in bench_run.LOADS))
    ap.add_argument("--configs", help="comma-separated subset of: "
                    + ", ".join(c.name for c in bench_configs.CONFIGS))
    ap.add_argument("--boots", default=",".join(b.name for b in bench_run.BOOTS),
                    help="which boots (default all): "
                    + "; ".join(f"{b.name}: {b.about}" for b in bench_run.BOOTS))
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    if args.report_only:
        with open(os.path.join(args.report_only, "results.json")) as f:
            report = make_report(json.load(f))
        with open(os.path.join(args.report_only, "report.md"), "w") as f:
            f.write(report)
        print(report)
        return 0
    if not args.kernel or not args.initrd:
        sys.exit("--kernel and --initrd are required (scripts/bench.sh passes them)")
    prof = bench_run.PROFILES[args.mode]
    if args.reps:
        prof = dataclasses.replace(prof, reps=args.reps)
    if args.duration is not None:
        if not 0.5 <= args.duration <= 60:
            sys.exit(f"--duration: 0.5 to 60 seconds, not {args.duration}")
        prof = dataclasses.replace(prof, duration=args.duration)
    if args.pairs is not None:
        prof = dataclasses.replace(prof, pairs=args.pairs)
    if args.pair_configs:
        pair = tuple(args.pair_configs.split(","))
        if len(pair) != 2 or not set(pair) <= {c.name for c in bench_configs.CONFIGS}:
            sys.exit(f"--pair-configs: two configurations, BASE,CANDIDATE: {args.pair_configs}")
        prof = dataclasses.replace(prof, paired=(pair[0], pair[1]))
    if args.loads:
        loads = tuple(args.loads.split(","))
        if not set(loads) <= set(prof.loads):
            sys.exit(f"--loads: not loads of the {args.mode} mode: "
                     f"{sorted(set(loads) - set(prof.loads))}")
        prof = dataclasses.replace(prof, loads=loads)
    names = args.configs.split(",") if args.configs else list(prof.configs or [])
    try:
        configs = ([bench_configs.by_name(n) for n in names] if names
                   else list(bench_configs.CONFIGS))
    except KeyError as e:
        sys.exit(f"unknown configuration {e}")
    if configs[0].name != "vanilla":
        configs = [bench_configs.by_name("vanilla")] + [c for c in configs if c.name != "vanilla"]
    wanted = args.boots.split(",")
    boots = [b for b in bench_run.BOOTS if b.name in wanted]
    if len(boots) != len(wanted):
        sys.exit(f"--boots: unknown boot in {wanted}")
    out = args.out or (os.path.join(ROOT, "docs", "results") if args.commit_results else
                       os.path.join(CACHE, "bench-results",
                                    datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    try:
        exe = os.path.abspath(args.loadgen) if args.loadgen else build_loadgen()
    except AssertionError as e:
        sys.exit(str(e))
    if not os.access(exe, os.X_OK):
        sys.exit(f"kpoll-loadgen not found at {exe}")
    json_path = os.path.join(out, "results.json")
    data: dict[str, Any] = {
        "mode": args.mode, "profile": prof.__dict__, "configs": [c.name for c in configs],
        "about": {c.name: c.about for c in configs}, "boots": {},
        "host_loadavg_start": os.getloadavg(), "console_problems": []}
    started = time.monotonic()
    failed = False
    for spec in boots:
        boot_name = spec.name
        if not any(ld in prof.loads for ld in spec.loads):
            continue
        in_boot = [c for c in configs if spec.configs is None or c.name in spec.configs]
        bench_run.log(f"{boot_name} boot ({spec.about}): "
                      f"{len(in_boot)} configurations x {prof.reps} repetitions -> {out}")
        console = os.path.join(CACHE, "logs", f"bench-console-{boot_name}.log")
        os.makedirs(os.path.dirname(console), exist_ok=True)
        with Vm(args.kernel, args.initrd, vcpus=spec.vcpus, queues=spec.queues,
                log_path=console, icount=spec.icount, append_extra=spec.guest_args) as vm:
            data.setdefault("environment", environment(vm, args))

            def save(boot: dict[str, Any], name: str = boot_name) -> None:
                data["boots"][name] = boot
                write_json(json_path, data)

            try:
                bench_run.run_boot(vm, exe, prof, spec, configs, save)
            except Exception as e:  # noqa: BLE001 - keep what was measured
                failed = True
                msg = "".join(traceback.format_exception_only(type(e), e))[:3000]
                data["boots"].setdefault(boot_name, {"configs": [], "entries": []})
                data["boots"][boot_name]["aborted"] = msg
                bench_run.log(f"{boot_name} boot aborted: {msg}")
            data["console_problems"] += vm.console_problems()
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    data["host_loadavg_end"] = os.getloadavg()
    write_json(json_path, data)
    report = make_report(data)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(report)
    print(report)
    bench_run.log(f"done in {data['elapsed_s']:.0f} s; results in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
