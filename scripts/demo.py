#!/usr/bin/env python3
"""kpoll demo: unmodified memcached in the guest under memcaslap load, kpoll off vs on,
interleaved over several repetitions, printed as a table.

"vanilla" runs with kpoll not loaded; "kpoll on" loads it and opts memcached's port in.
Started by scripts/demo.sh (`make demo`) as `python3 -m scripts.demo` from the repository root."""
import argparse
import statistics
import sys

from harness.vm import Vm
from tests.guest import kpoll_counters, measure_load, start_memcached, stop_memcached


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--seconds", type=int, default=10, help="length of one load run")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of off/on")
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    runs = {"vanilla": [], "kpoll on": []}
    with Vm(args.kernel, args.initrd, vcpus=1, log_path="/tmp/kpoll-demo-console.log") as vm:
        print(f"guest booted ({vm.accel}); memcached -t 1, memcaslap -T1 -c{args.concurrency} "
              f"-t{args.seconds}s from the host namespace", flush=True)
        start_memcached(vm)
        counters = None
        for rep in range(args.reps):
            for name in runs:
                # vanilla: kpoll not loaded at all; kpoll on: loaded, memcached's port opted in.
                if name == "kpoll on":
                    vm.check("insmod /lib/kpoll/kpoll.ko && echo 11211 > /proc/sys/net/kpoll/ports")
                stats = measure_load(vm, seconds=args.seconds, concurrency=args.concurrency)
                if name == "kpoll on":
                    counters = kpoll_counters(vm)
                    vm.check("rmmod kpoll")
                runs[name].append(stats)
                print(f"  rep {rep + 1} {name:9s}: {stats['tps']:6d} TPS, "
                      f"{stats['irqs_per_req']:.3f} RX IRQs/request, "
                      f"{stats['busy_per_1k']:.1f} busy jiffies/1000 requests", flush=True)
        stop_memcached(vm)
        problems = vm.console_problems()

    def med(name, key):
        return statistics.median(r[key] for r in runs[name])

    print()
    print("| config    | TPS (median) | RX IRQs / request | guest busy jiffies / 1000 req |"
          " verify failures |")
    print("|-----------|-------------:|------------------:|------------------------------:|"
          "----------------:|")
    for name in runs:
        print(f"| {name:9s} | {med(name, 'tps'):12.0f} | {med(name, 'irqs_per_req'):17.4f} | "
              f"{med(name, 'busy_per_1k'):29.1f} | "
              f"{sum(r['verify_failed'] or 0 for r in runs[name]):15d} |")
    off, on = med("vanilla", "tps"), med("kpoll on", "tps")
    print(f"\nthroughput x{on / off:.2f}; RX IRQs/request "
          f"{med('vanilla', 'irqs_per_req'):.3f} -> {med('kpoll on', 'irqs_per_req'):.4f}")
    t = counters["total"]
    print(f"kpoll counters (last kpoll run): suspensions {t['suspensions']}, polls from epoll_wait {t['app_polls']}, "
          f"packets in app context {t['app_packets']}, idle resumes {t['idle_resumes']}, "
          f"watchdog fires {t['watchdog_fires']}, service polls {t.get('service_polls', '-')}")
    if problems:
        print("kernel console reported problems:\n" + "\n".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
