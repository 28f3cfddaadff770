#!/usr/bin/env python3
"""make deb-test, guest part (started by scripts/deb-test.sh): boots the kernel of the
linux-image package with kpoll.ko as DKMS built it against the linux-headers package in a
chroot, and kpollctl from its package, and runs the memcached opt-in test there.

Usage (from the repository root): python3 -m tests.deb_vm_test VMLINUZ INITRD RELEASE.
Ends with "N passed, N failed"."""
import re
import sys

from harness.kpoll_status import kpoll_report
from harness.memcached import memcache_request, start_memcached, stop_memcached
from harness.vm import Vm
from tests.guest import measure_load
from tests.guest_session import run_tests
from tests.tap import Results
from tests.vm_suite import IRQ_CUT_RATIO

RELEASE = sys.argv[3] if len(sys.argv) > 3 else ""
SYSCTL_CONF = "/etc/sysctl.d/90-kpoll.conf"
MODULES_CONF = "/etc/modules-load.d/kpoll.conf"
# Lines a distribution kernel prints under TCG (`-cpu max` lacks the CPU bugs' fixes) that the
# harness's console scan would take for kernel reports: the mitigation status lines.
BENIGN_CONSOLE = re.compile(r"(RETBleed|Spectre|MDS|MMIO Stale Data|SRSO|GDS|RFDS|ITS|TSA|"
                            r"VMSCAPE|TAA|Speculative Store Bypass|L1TF|x86/bugs).*WARNING")


def test_boots_the_packaged_kernel(vm: Vm) -> str:
    release = vm.check("uname -r").strip()
    assert release == RELEASE, f"booted {release}, packaged {RELEASE}"
    hooks = vm.check("grep -c -w -e kpoll_register -e kpoll_unregister /proc/kallsyms").strip()
    assert hooks == "2", f"kpoll hook symbols in kallsyms: {hooks}"
    nic = vm.check("readlink /sys/class/net/eth0/device/driver").strip()
    assert nic.endswith("/virtio_net"), nic
    return f"Linux {release}; virtio_net from the package's modules"


def test_dkms_module_loads(vm: Vm) -> str:
    path = f"/lib/modules/{RELEASE}/updates/dkms/kpoll.ko"
    vm.check(f"test -f {path}")
    vm.check("modprobe kpoll")
    proc = vm.check("cat /proc/net/kpoll")
    assert proc.startswith("config enabled=1"), proc
    # O: out of tree; E: unsigned (DKMS does not sign), as on Debian's own kernel.
    taint = vm.check("cat /sys/module/kpoll/taint").strip()
    return f"modprobe kpoll: {path} (DKMS), taint {taint or '-'}"


def test_memcached_opt_in_by_kpollctl_persist_cuts_irqs(vm: Vm) -> str:
    """memcached with kpoll loaded but no port opted in, then after
    `kpollctl enable --port 11211 --persist`: RX IRQs/request and verified replies."""
    start_memcached(vm)
    try:
        reply = memcache_request(vm, b"set deb-key 0 0 5\r\nhello\r\nget deb-key\r\n")
        assert reply == b"STORED\r\nVALUE deb-key 0 5\r\nhello\r\nEND\r\n", reply
        off = measure_load(vm, seconds=5)
        out = vm.check("kpollctl enable --port 11211 --persist")
        assert out.startswith("ports: - -> 11211"), out
        before = kpoll_report(vm).total
        on = measure_load(vm, seconds=5)
        after = kpoll_report(vm).total
        reply = memcache_request(vm, b"get deb-key\r\n")
        assert reply == b"VALUE deb-key 0 5\r\nhello\r\nEND\r\n", reply
        status = vm.check("kpollctl status")
    finally:
        stop_memcached(vm)
    for run in (off, on):
        assert run.verify_failed == 0 and run.verify_misses == 0, run
    assert off.irqs_per_req > 0.2, f"kpoll off: {off.irqs_per_req:.3f} IRQs/request"
    polls = int(after["app_polls"]) - int(before["app_polls"])
    holds = int(after["suspensions"]) - int(before["suspensions"])
    assert polls > 0 and holds > 0, f"no holds/polls from epoll_wait: {before} -> {after}"
    ratio = on.irqs_per_req / off.irqs_per_req
    deltas = {k: int(after[k]) - int(before.get(k, 0)) for k in after}
    assert ratio <= IRQ_CUT_RATIO, (f"IRQs/request off {off.irqs_per_req:.3f} on "
                                    f"{on.irqs_per_req:.3f} (ratio {ratio:.3f}); TPS {off.tps} "
                                    f"-> {on.tps}; kpoll during the run: {deltas}")
    assert "ports=11211" in status, status
    return (f"RX IRQs/request off {off.irqs_per_req:.3f} -> on {on.irqs_per_req:.4f} "
            f"({off.ops} / {on.ops} requests, 0 verify failures); TPS {off.tps} -> "
            f"{on.tps}; {holds} holds, {polls} polls from epoll_wait")


def test_persisted_opt_in_survives_a_reload(vm: Vm) -> str:
    """What boot does with the files --persist wrote: systemd-modules-load loads the modules
    listed in modules-load.d, then systemd-sysctl applies sysctl.d (here by hand)."""
    vm.check(f"grep -qx kpoll {MODULES_CONF}")
    assert "net.kpoll.ports = 11211" in vm.check(f"cat {SYSCTL_CONF}")
    vm.check("modprobe -r kpoll")
    rc, _ = vm.run("test -e /proc/sys/net/kpoll")
    assert rc != 0, "kpoll still loaded"
    vm.check(f"for m in $(grep -v '^#' {MODULES_CONF}); do modprobe $m; done")
    vm.check(f"sysctl -p {SYSCTL_CONF}")
    ports = vm.check("cat /proc/sys/net/kpoll/ports").strip()
    assert ports == "11211", ports
    out = vm.check("kpollctl disable --persist")
    assert "persisted: nothing" in out, out
    rc, _ = vm.run(f"test -e {SYSCTL_CONF} || test -e {MODULES_CONF}")
    assert rc != 0, "persisted files remain"
    assert vm.check("cat /proc/sys/net/kpoll/ports").strip() == ""
    vm.check("modprobe -r kpoll")
    return "module listed, ports=11211 back after reload; disable --persist removed both files"


TESTS = [
    test_boots_the_packaged_kernel,
    test_dkms_module_loads,
    test_memcached_opt_in_by_kpollctl_persist_cuts_irqs,
    test_persisted_opt_in_survives_a_reload,
]


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    kernel, initrd = sys.argv[1], sys.argv[2]
    results = Results()
    # The console scan of run_tests() with the distribution kernel's mitigation notes removed.
    run_tests(results, "deb", kernel, initrd, TESTS, "kpoll-deb-test-console.log", vcpus=1,
              benign_console=BENIGN_CONSOLE)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
