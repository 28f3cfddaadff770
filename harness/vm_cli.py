"""Boot the kpoll test guest and run commands in it, by hand.

    python3 -m harness.vm_cli --kernel K --initrd I [--vcpus N] [--queues N] shell   < commands
    python3 -m harness.vm_cli --kernel K --initrd I run 'CMD'

(from the repository root). KPOLL_KERNEL / KPOLL_INITRD are the defaults for --kernel /
--initrd; the other environment variables are harness.vm's.
"""
from __future__ import annotations

import argparse
import os
import sys

from harness.env import log
from harness.errors import CommandTimeout
from harness.vm import Vm


def main(argv: list[str] | None = None) -> int:
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
        log(f"guest ready in {vm.boot_seconds or 0:.1f} s ({vm.accel}, netns {vm.ns}, "
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
