"""kpoll demo: unmodified memcached in the guest under kpoll-loadgen load from the host
namespace (closed loop, one thread), kpoll off vs on, interleaved over several repetitions,
printed as a table.

"vanilla" runs with kpoll not loaded; "kpoll on" loads it and opts memcached's port in. Every
run is measured by the benchmark's own function (harness.load_run.measured_run): requests are
memcached's, guest busy time is NO_HZ idle accounting, RX IRQs and kpoll's counters are the
deltas around the run.
Started by scripts/demo.sh (`make demo`) as `python3 -m scripts.demo` from the repository root."""
from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable

from harness.bench_configs import KPOLL_MODULE
from harness.bench_run import short
from harness.load_run import Load, Run, edge_busy_ns, measured_run
from harness.loadgen import build_loadgen, preload
from harness.memcached import start_memcached, stop_memcached
from harness.vm import Vm

WARMUP = 0.5  # seconds of each run the load generator leaves out of its rate and latencies
CONFIGS = ("vanilla", "kpoll on")


def median(runs: list[Run], value: Callable[[Run], float | None]) -> float:
    values = [v for v in map(value, runs) if v is not None]
    return statistics.median(values) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--seconds", type=int, default=10, help="length of one load run")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of off/on")
    ap.add_argument("--concurrency", type=int, default=16, help="connections")
    ap.add_argument("--loadgen", help="kpoll-loadgen executable (default: build it)")
    args = ap.parse_args()

    exe = args.loadgen or build_loadgen()
    load = Load("demo", args.concurrency)
    runs: dict[str, list[Run]] = {name: [] for name in CONFIGS}
    last_kpoll: dict[str, int] = {}
    with Vm(args.kernel, args.initrd, vcpus=1, log_path="/tmp/kpoll-demo-console.log") as vm:
        print(f"guest booted ({vm.accel}); memcached -t 1, kpoll-loadgen closed loop, "
              f"{args.concurrency} connections, {args.seconds} s runs from the host namespace",
              flush=True)
        start_memcached(vm)
        preload(vm, exe, etc=False)
        for rep in range(args.reps):
            for name in CONFIGS:
                # vanilla: kpoll not loaded at all; kpoll on: loaded, memcached's port opted in.
                if name == "kpoll on":
                    vm.check(f"insmod {KPOLL_MODULE} && echo 11211 > /proc/sys/net/kpoll/ports")
                run = measured_run(vm, exe, load, 0, args.seconds, WARMUP, edge_busy_ns(vm))
                if name == "kpoll on":
                    last_kpoll = run.kpoll
                    vm.check("rmmod kpoll")
                runs[name].append(run)
                print(f"  rep {rep + 1} {name:9s}: {short(run)}", flush=True)
        stop_memcached(vm)
        problems = vm.console_problems()

    def busy_us(r: Run) -> float | None:
        cost = r.busy_per_req
        return None if cost is None else cost / 1000

    print()
    print("| config    | requests/s (median) | RX IRQs / request | guest busy µs / request |"
          " errors + misses |")
    print("|-----------|--------------------:|------------------:|------------------------:|"
          "----------------:|")
    for name in CONFIGS:
        print(f"| {name:9s} | {median(runs[name], lambda r: r.rate):19.0f} | "
              f"{median(runs[name], lambda r: r.irqs_per_req):17.4f} | "
              f"{median(runs[name], busy_us):23.1f} | "
              f"{sum(r.errors + r.misses for r in runs[name]):15d} |")
    off, on = median(runs["vanilla"], lambda r: r.rate), median(runs["kpoll on"], lambda r: r.rate)
    print(f"\nthroughput x{on / off:.2f}; RX IRQs/request "
          f"{median(runs['vanilla'], lambda r: r.irqs_per_req):.3f} -> "
          f"{median(runs['kpoll on'], lambda r: r.irqs_per_req):.4f}")
    t = last_kpoll
    print(f"kpoll counters (last kpoll run): suspensions {t.get('suspensions', '-')}, polls from "
          f"epoll_wait {t.get('app_polls', '-')}, packets in app context "
          f"{t.get('app_packets', '-')}, idle resumes {t.get('idle_resumes', '-')}, watchdog "
          f"fires {t.get('watchdog_fires', '-')}, service polls {t.get('service_polls', '-')}")
    failed = sum(r.failed for rs in runs.values() for r in rs)
    if failed:
        print(f"{failed} load runs failed (no report from kpoll-loadgen)")
    if problems:
        print("kernel console reported problems:\n" + "\n".join(problems))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
