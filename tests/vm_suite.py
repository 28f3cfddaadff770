"""Tests that run against the patched kernel in a QEMU guest.

One guest is booted for the whole suite; each test leaves it as it found it (kpoll unloaded,
no memcached, default knobs). The guest's console is checked for kernel splats at the end."""
import os
import re
import subprocess
import time
from typing import Any

from harness.bench_configs import KPOLL_NO_RESTS_MODULE
from harness.kpoll_status import HELD, kpoll_report
from harness.loadgen import build_loadgen, run_loadgen
from harness.memcached import memcache_request, start_memcached, stop_memcached
from harness.netns import GUEST_IP as GUEST
from harness.procfs import read_cpu_jiffies
from harness.vm import Vm
from harness.wait import wait_for
from tests import bad_input, trust_tests
from tests.echo import echo_client, echo_load, start_echo, stop_echo
from tests.guest import (
    KNOB_DEFAULTS,
    guest_answers,
    insmod,
    knob,
    measure_load,
    memcaslap,
    memcaslap_background,
    rmmod,
    rx_irqs,
    set_knob,
    total,
    tx_inflight_bytes,
)
from tests.guest_session import run_tests
from tests.tap import Results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KNOBS = bad_input.KNOBS


# --- foundation -------------------------------------------------------------------------------

def test_boots_patched_kernel(vm: Vm) -> str:
    release = vm.check("uname -r").strip()
    assert release.startswith("6.12."), release
    hooks = vm.check("grep -c -w -e kpoll_register -e kpoll_unregister /proc/kallsyms").strip()
    assert hooks == "2", f"kpoll hook symbols in kallsyms: {hooks}"
    return f"Linux {release} with kpoll hook points"


def test_module_loads_and_unloads(vm: Vm) -> None:
    insmod(vm)
    try:
        lsmod = vm.check("cat /proc/modules")
        assert lsmod.startswith("kpoll ") or "\nkpoll " in lsmod, lsmod
        proc = vm.check("cat /proc/net/kpoll")
        assert proc.startswith("config enabled=1"), proc
        for name in KNOBS:
            assert knob(vm, name) == KNOB_DEFAULTS[name], (name, knob(vm, name))
    finally:
        rmmod(vm)
    rc, _ = vm.run("test -e /proc/net/kpoll || test -e /proc/sys/net/kpoll")
    assert rc != 0, "kpoll files remain after rmmod"
    rc, out = vm.run("grep -w kpoll /proc/modules")
    assert rc != 0, out


def test_memcached_answers_from_host(vm: Vm) -> None:
    start_memcached(vm)
    try:
        reply = memcache_request(vm, b"set kpoll-key 0 0 5\r\nhello\r\nget kpoll-key\r\n")
        assert reply == b"STORED\r\nVALUE kpoll-key 0 5\r\nhello\r\nEND\r\n", reply
    finally:
        stop_memcached(vm)


def test_load_raises_rx_irqs(vm: Vm) -> str:
    start_memcached(vm)
    try:
        before = rx_irqs(vm)
        stats = memcaslap(vm, seconds=3, concurrency=4)
        after = rx_irqs(vm)
    finally:
        stop_memcached(vm)
    assert stats.ops > 100, stats
    assert stats.verify_failed == 0, stats
    assert after - before > 100, f"RX IRQs moved by {after - before} over {stats.ops} requests"
    return f"{stats.ops} requests, {after - before} RX IRQs"


# --- polling core -----------------------------------------------------------------------------

# RX IRQs/request with kpoll over without, that the IRQ-cut tests require. On a quiet host the
# debug guest cuts them by ~95 % (memcached: 0.993 -> 0.048); with both host cores busy (a kernel
# build beside the guest) only by 50-70 %, for the old design as for this one (0.59 -> 0.19-0.30):
# the starved vCPU batches more without kpoll and its server finds nothing more often with it.
# These tests check the mechanism's effect with a margin for such a host; the benchmark owns
# the numbers.
IRQ_CUT_RATIO = 0.75


def test_memcached_port_optin_cuts_irqs(vm: Vm) -> str:
    """Unmodified memcached, opted in by port: fewer RX IRQs/request, queue held and polled;
    fewer TX-completion IRQs too (virtio_net leaves them off while the pair is held), and once
    the load has ended every transmitted buffer is reaped."""
    start_memcached(vm)
    insmod(vm)
    try:
        off = measure_load(vm, seconds=5)
        rc, out = set_knob(vm, "ports", "11211")
        assert rc == 0, out
        before = kpoll_report(vm).total
        on = measure_load(vm, seconds=5)
        after = kpoll_report(vm).total
        # Nothing is sent any more: the last release's receive poll (or the send NAPI it
        # scheduled) has reaped what was transmitted while held.
        wait_for(lambda: tx_inflight_bytes(vm) == 0, "the send queues to report every "
                 "transmitted byte done after the load", timeout=10)
    finally:
        rmmod(vm)
        stop_memcached(vm)
    for run in (off, on):
        assert run.verify_failed == 0 and run.verify_misses == 0, run
    assert off.irqs_per_req > 0.2, f"kpoll off: {off.irqs_per_req:.3f} IRQs/request"
    ratio = on.irqs_per_req / off.irqs_per_req
    app_packets = int(after["app_packets"]) - int(before["app_packets"])
    app_polls = int(after["app_polls"]) - int(before["app_polls"])
    suspensions = int(after["suspensions"]) - int(before["suspensions"])
    assert app_polls > 0 and app_packets > 0, f"no polls from epoll_wait: {before} -> {after}"
    assert suspensions > 0, after
    assert ratio <= IRQ_CUT_RATIO, (f"IRQs/request off {off.irqs_per_req:.3f} on "
                                    f"{on.irqs_per_req:.3f} (ratio {ratio:.3f})")
    assert off.tx_irqs_per_req > 0.2, f"kpoll off: {off.tx_irqs_per_req:.3f} TX IRQs/request"
    tx_ratio = on.tx_irqs_per_req / off.tx_irqs_per_req
    assert tx_ratio <= IRQ_CUT_RATIO, (f"TX IRQs/request off {off.tx_irqs_per_req:.3f} on "
                                       f"{on.tx_irqs_per_req:.3f} (ratio {tx_ratio:.3f})")
    return (f"IRQs/request off {off.irqs_per_req:.3f} -> on {on.irqs_per_req:.4f}; "
            f"TX IRQs/request {off.tx_irqs_per_req:.3f} -> {on.tx_irqs_per_req:.4f}; "
            f"TPS {off.tps} -> {on.tps}; app packets {app_packets}")


def rest_deliveries() -> int:
    """Deliveries an epoll rests after a streak that took no hold: REST_DELIVERIES, defined
    once in src/policy/napi_ids.rs."""
    with open(os.path.join(ROOT, "src", "policy", "napi_ids.rs"), encoding="utf-8") as f:
        m = re.search(r"^pub const REST_DELIVERIES: u\d+ = (\d+);$", f.read(), re.M)
    assert m, "REST_DELIVERIES not found in src/policy/napi_ids.rs"
    return int(m.group(1))


# The light load of test_a_light_load_rests: one connection, Poisson arrivals at this rate, so
# that memcached is nearly always back in epoll_wait() before the next request arrives (its
# request takes 0.2-2 ms under TCG). A closed loop from the host does not give that: when the
# next request arrives first, the deliveries streak and kpoll may hold instead of resting (one
# CI run rested 3 times in 3018 closed-loop requests). At 100/s: one rest per 20-22 requests,
# also while the host compiled a kernel.
LIGHT_RATE = 100
LIGHT_SECONDS = 8


def light_load(vm: Vm, exe: str) -> dict[str, Any]:
    """LIGHT_RATE requests/s on one connection for LIGHT_SECONDS, every reply verified;
    kpoll-loadgen's JSON report."""
    return run_loadgen(vm, exe, "--rate", LIGHT_RATE, "--connections", 1, "--duration",
                       LIGHT_SECONDS, "--warmup", 0, "--keys", 100, "--no-preload",
                       timeout=LIGHT_SECONDS + 60)


def test_a_light_load_rests(vm: Vm) -> str:
    """A light load (one connection, requests far apart): every streak ends at an empty return
    without a hold, so the server's epoll rests and kpoll's hooks watch one request in 16 or
    fewer (`rests`; without rests no hook would skip anything, and with a rest that never
    ended the hooks would stop watching). Every request is answered, and a 16-connection load
    right after is held as before. The benchmark's kpoll-no-rests.ko, under the same light
    load, rests no epoll."""
    exe = build_loadgen()
    start_memcached(vm)
    insmod(vm)
    try:
        rc, out = set_knob(vm, "ports", "11211")
        assert rc == 0, out
        rests0 = kpoll_report(vm).config["rests"]
        light = light_load(vm, exe)
        before = kpoll_report(vm)
        heavy = memcaslap(vm, seconds=3)
        after = kpoll_report(vm).total
        rmmod(vm)
        insmod(vm, KPOLL_NO_RESTS_MODULE)
        rc, out = set_knob(vm, "ports", "11211")
        assert rc == 0, out
        plain0 = kpoll_report(vm).total
        unrested = light_load(vm, exe)
        plain = kpoll_report(vm)
        no_rests = plain.config["rests"]
        # its hooks ran: each streak that ended was a hold declined or taken
        decided = sum(plain.total[k] - plain0[k] for k in ("declined", "suspensions"))
    finally:
        rmmod(vm)
        stop_memcached(vm)
    assert heavy.verify_failed == 0 and heavy.verify_misses == 0, heavy
    for run in (light, unrested):
        assert run["errors"]["total"] == 0, run["error_samples"]
    ops, unrested_ops = light["requests"]["total"], unrested["requests"]["total"]
    assert ops > 100 and unrested_ops > 100, (light["requests"], unrested["requests"])
    rests = before.config["rests"] - rests0
    # The load rests at most once per cycle: the rest's deliveries, then a streak that an
    # empty return ends. A cycle runs longer when a request arrives before memcached is back
    # in epoll_wait() (no empty return). A rest that never ended would give one or two rests
    # in all; no rests, none.
    cycle = rest_deliveries() + 1
    assert ops / (8 * cycle) <= rests <= ops / (cycle / 2), (
        f"{rests} rests over {ops} requests at {LIGHT_RATE}/s (one per {cycle // 2} to "
        f"{8 * cycle} expected)")
    holds = after["suspensions"] - before.total["suspensions"]
    polls = after["app_polls"] - before.total["app_polls"]
    assert holds > 0 and polls > 0, f"16 connections after the rests: {before.total} -> {after}"
    assert no_rests == 0, f"kpoll-no-rests.ko rested {no_rests} times over {unrested_ops} requests"
    assert decided > 0, f"kpoll-no-rests.ko's hooks decided nothing: {plain0} -> {plain.total}"
    return (f"{rests} rests over {ops} requests at {LIGHT_RATE}/s on 1 connection (one per "
            f"{ops / rests:.1f}); then {holds} holds, "
            f"{polls} polls from epoll_wait at 16; kpoll-no-rests.ko: 0 rests over "
            f"{unrested_ops} requests, {decided} holds declined or taken")


def write_knob(vm: Vm, name: str, value: str, user: str | None = None) -> tuple[int, str]:
    """Writes a knob as root or as `user`; returns (rc, output)."""
    cmd = f"echo -n '{value}' > /proc/sys/net/kpoll/{name}"
    return vm.run(f'su -s /bin/sh {user} -c "{cmd}"' if user else cmd)


def test_bad_input_table(vm: Vm) -> str:
    """Every row of README's bad-input table gets its error and changes nothing."""
    table = bad_input.rows()
    start = {"enabled": "0", "ports": "7777", "watchdog_us": "5000", "budget": "16"}
    not_loaded = []
    insmod(vm)
    try:
        for name, value in start.items():  # not the defaults: "unchanged" must be visible
            rc, out = set_knob(vm, name, value)
            assert rc == 0, (name, value, out)
        for where, text, result in table:
            if where.startswith("SO_KPOLL"):
                args = bad_input.sockopt_args(where, text)
                if args is None:
                    not_loaded.append((where, result))
                    continue
                out = vm.run(f"kpoll-sockopt {args} --readback")[1].strip()
                assert out == f"error {result} now=0", (where, text, out)
                continue
            assert where in (*bad_input.KNOBS, bad_input.NON_ROOT,
                             bad_input.ROOT_WITHOUT_NET_ADMIN), where
            for name in [where] if where in bad_input.KNOBS else bad_input.KNOBS:
                value = bad_input.knob_bytes(text)
                if where == bad_input.ROOT_WITHOUT_NET_ADMIN:
                    out = vm.run("kpoll-sysctl-write --without-cap-net-admin "
                                 f"/proc/sys/net/kpoll/{name} '{value}'")[1].strip()
                    assert out == f"error {result}", (name, text, out)
                else:
                    user = None if where in bad_input.KNOBS else "kpolluser"
                    rc, out = write_knob(vm, name, value, user)
                    assert rc != 0 and bad_input.ERRNO_TEXT[result] in out, (name, text, rc,
                                                                             out)
                assert knob(vm, name) == start[name], (name, text, knob(vm, name))
        for name, value in (("watchdog_us", "50"), ("budget", "1024"), ("ports", "1 65535"),
                            ("enabled", "1")):
            rc, out = set_knob(vm, name, value)
            assert rc == 0 and knob(vm, name) == value, (name, value, out)
        out = vm.run("kpoll-sockopt set --value 2 --readback")[1].strip()
        assert out == "ok 2 now=1", f"SO_KPOLL=2: {out}"
    finally:
        rmmod(vm)
    for where, result in not_loaded:
        out = vm.run(f"kpoll-sockopt {where.split()[-1]} --readback")[1].strip()
        assert out.startswith(f"error {result} now=") or out == f"error {result}", (where, out)
    return f"{len(table)} rows of the README table"


def test_so_kpoll_echo_server_cuts_irqs(vm: Vm) -> str:
    """An application that opts in with setsockopt (inherited by accepted sockets)."""
    insmod(vm)
    try:
        start_echo(vm, "--port 7001")
        irq0 = rx_irqs(vm)
        plain = echo_load(vm, 7001)
        irq1 = rx_irqs(vm)
        stop_echo(vm)
        start_echo(vm, "--port 7002 --so-kpoll")
        before = kpoll_report(vm).total
        opted = echo_load(vm, 7002)
        irq2 = rx_irqs(vm)
        after = kpoll_report(vm).total
    finally:
        stop_echo(vm)
        rmmod(vm)
    off, on = (irq1 - irq0) / plain, (irq2 - irq1) / opted
    assert int(after["app_packets"]) > int(before["app_packets"]), after
    # The Python client on the host, not the server, often limits this load, so the server goes
    # idle between bursts more than memcached under memcaslap does: a smaller cut is expected.
    assert on <= IRQ_CUT_RATIO * off, f"IRQs/request plain {off:.3f}, SO_KPOLL {on:.3f}"
    return f"IRQs/request plain {off:.3f} -> SO_KPOLL {on:.4f}"


# A network namespace in the guest ("a container") with a macvlan interface on eth0, reached
# from the host at its own address on eth0's wire. Its packets come in through eth0's NAPI and
# keep its NAPI ID, as into a container on a bridged or macvlan network. (Routed packets do
# not: ip_forward() clears the ID.)
CONTAINER_IP = "10.213.0.77"


def make_container(vm: Vm) -> str:
    """Creates the guest's second network namespace, held by a sleeping process; returns that
    process's PID."""
    pid = vm.check("unshare -n sleep 100000 </dev/null >/dev/null 2>&1 & echo $!").strip()
    vm.check(f"ip link add link eth0 name kpmv0 type macvlan && ip link set kpmv0 netns {pid}")
    vm.check(f"{in_container(pid)} sh -c 'ip link set lo up && "
             f"ip addr add {CONTAINER_IP}/24 dev kpmv0 && ip link set kpmv0 up'")
    return pid


def in_container(pid: str) -> str:
    """The prefix that runs a guest command in the namespace of make_container()."""
    return f"nsenter -t {pid} -n"


def echo_considered(vm: Vm, prefix: str, address: str) -> tuple[int, int]:
    """Runs the echo server on port 7005 (`prefix`: the namespace it runs in) under a closed
    loop from the host; returns (echoes, holds and declined holds kpoll counted meanwhile)."""
    start_echo(vm, "--port 7005", prefix=prefix)
    try:
        before = kpoll_report(vm).total
        done = echo_load(vm, 7005, 32, 6000, address)
        after = kpoll_report(vm).total
    finally:
        stop_echo(vm)
    considered = sum(int(after[k]) - int(before[k]) for k in ("suspensions", "declined"))
    return done, considered


def test_port_optin_stays_in_the_initial_netns(vm: Vm) -> str:
    """net.kpoll.ports opts in sockets of the initial network namespace only: a socket that
    binds a listed port in another namespace, fed through eth0, never holds eth0's queue
    (without CAP_NET_ADMIN in the initial user namespace nothing may mask a host queue)."""
    insmod(vm)
    container = None
    try:
        set_knob(vm, "ports", "7005")
        container = make_container(vm)
        # The same server and load in the initial namespace show that they lead to holds.
        host_done, host_considered = echo_considered(vm, "", GUEST)
        done, considered = echo_considered(vm, in_container(container), CONTAINER_IP)
    finally:
        if container is not None:
            # The namespace, and the macvlan interface with it, goes with its last process.
            vm.run(f"kill {container}")
        rmmod(vm)
    assert host_considered > 0, f"no hold even in the initial namespace ({host_done} echoes)"
    assert considered == 0, (f"a socket of another namespace on a listed port led to "
                             f"{considered} holds or declined holds ({done} echoes)")
    return (f"initial namespace: {host_considered} holds or declines in {host_done} echoes; "
            f"other namespace: 0 in {done} echoes")


def holds_ended(vm: Vm) -> int:
    """Holds handed back so far: on an idle epoll_wait() or by the watchdog."""
    counts = kpoll_report(vm).total
    return int(counts["idle_resumes"]) + int(counts["watchdog_fires"])


def test_idle_hands_back_to_irqs(vm: Vm) -> str:
    """After load stops: a request is answered, the IRQ counter moves, the guest is idle."""
    start_memcached(vm)
    insmod(vm)
    load = None
    try:
        set_knob(vm, "ports", "11211")
        ended0 = holds_ended(vm)
        # Load until a hold is seen (a slow debug guest may need longer than a fixed run), then
        # stop it and wait for the hand-back that the idle epoll_wait() must make.
        load = memcaslap_background(vm, 600)
        wait_for(lambda: any(n.state == HELD for n in kpoll_report(vm).napis),
                 "a held queue under load", 60, 0.02)
        load.kill()
        load.wait()
        load = None
        # The hold ends on the idle epoll_wait() (idle_resumes) or, when the adaptive deadline
        # ran out first, by the watchdog (watchdog_fires): either way the queue is handed back.
        wait_for(lambda: holds_ended(vm) > ended0, "a hold ended after the load", 30, 0.05)
        wait_for(lambda: all(n.state != HELD for n in kpoll_report(vm).napis),
                 "no held queue after the load", 30, 0.05)
        busy0, total0 = read_cpu_jiffies(vm)
        time.sleep(2)  # the measurement window for idle CPU, not a synchronisation
        busy1, total1 = read_cpu_jiffies(vm)
        idle_share = 1.0 - (busy1 - busy0) / max(total1 - total0, 1)
        irq0 = rx_irqs(vm)
        reply = memcache_request(vm, b"get nothing-here\r\n")
        irq1 = rx_irqs(vm)
    finally:
        if load is not None:
            load.kill()
        rmmod(vm)
        stop_memcached(vm)
    assert reply == b"END\r\n", reply
    assert irq1 > irq0, "the single request after load raised no RX IRQ"
    # The agent's own commands cost a little CPU under TCG; a spinning poller would be ~0 idle.
    assert idle_share > 0.8, f"guest only {idle_share:.0%} idle after load"
    return f"guest {idle_share:.0%} idle; request answered with {irq1 - irq0} RX IRQ(s)"


TRICKLE = r"""
import socket, sys, time
# One byte every 10 ms on a fresh connection, without reading: traffic that keeps arriving.
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    s.send(b"x")
    time.sleep(0.01)
"""


STALL_GO = "/tmp/stall-go"


def test_stalled_app_gets_irqs_back(vm: Vm) -> str:
    """An app takes events then spins without epoll_wait while traffic continues: the watchdog
    gives the queue back to IRQs. The stall lasts until the test has seen the IRQs (a go file),
    however slow the guest's commands are; 60 s is only its upper bound."""
    insmod(vm)
    vm.check(f"rm -f {STALL_GO}")
    try:
        start_echo(vm, f"--port 7003 --so-kpoll --stall-after 3000 --stall-ms 60000 "
                       f"--stall-until {STALL_GO}")
        fires0 = total(vm, "watchdog_fires")
        client = echo_client(vm, 7003, 16, 6000)
        try:
            wait_for(lambda: "STALL-BEGIN" in vm.run("cat /tmp/echo.log")[1], "stall", 120, 0.05)
            irq0 = rx_irqs(vm)
            trickle = vm.host_popen(["python3", "-c", TRICKLE, GUEST, "7003", "20"])
            try:
                wait_for(lambda: rx_irqs(vm) > irq0 + 5, "RX IRQs during the stall", 15, 0.05)
                fires = total(vm, "watchdog_fires")
                vm.check(f"touch {STALL_GO}")
            finally:
                trickle.kill()
                trickle.wait()
            wait_for(lambda: "STALL-END" in vm.run("cat /tmp/echo.log")[1], "the stall's end",
                     30, 0.05)
            ended = vm.check("grep STALL-END /tmp/echo.log").strip()
            out, err = client.communicate(timeout=240)
        finally:
            client.kill()
    finally:
        stop_echo(vm)
        rmmod(vm)
    assert ended == "STALL-END released", f"the stall ended on its own: {ended!r}"
    assert client.returncode == 0, err
    echoed, bad = map(int, out.split())
    assert bad == 0 and echoed == 6000, out
    assert fires > fires0, "watchdog fire not counted"
    return f"IRQs back while the app was stalled; watchdog fires {fires - fires0}"


def test_link_down_up_while_held(vm: Vm) -> None:
    """ifdown/ifup disables and re-enables the NAPI while holds come and go under load: traffic
    and IRQs come back. (On one vCPU the guest shell runs between holds; the two-vCPU guest of
    fault_suite.py flaps the link with the queue seen held.)"""
    start_memcached(vm)
    insmod(vm)
    try:
        set_knob(vm, "ports", "11211")
        load = memcaslap_background(vm, 60, "-R")
        try:
            holds0 = total(vm, "suspensions")
            wait_for(lambda: total(vm, "suspensions") > holds0 + 10,
                     "holds under load", 30)
            vm.check("ip link set eth0 down && ip link set eth0 up && "
                     "ip addr replace 10.213.0.2/24 dev eth0")
        finally:
            load.kill()
        wait_for(lambda: guest_answers(vm), "the guest answering after ifup", 30, 0.2)
        irq0 = rx_irqs(vm)
        reply = memcache_request(vm, b"set after-ifup 0 0 2\r\nok\r\nget after-ifup\r\n")
        irq1 = rx_irqs(vm)
    finally:
        rmmod(vm)
        stop_memcached(vm)
    assert reply == b"STORED\r\nVALUE after-ifup 0 2\r\nok\r\nEND\r\n", reply
    assert irq1 > irq0, "no RX IRQ after link down/up"


def test_server_killed_while_held(vm: Vm) -> str:
    """kill -9 of the server under load: the hold is dropped (epoll freed) and IRQs return."""
    insmod(vm)
    try:
        start_echo(vm, "--port 7004 --so-kpoll")
        client = echo_client(vm, 7004, 8, 100000)
        try:
            wait_for(lambda: total(vm, "suspensions") > 0, "a hold", 30)
            vm.check("killall -9 kpoll-echo; while pidof kpoll-echo >/dev/null; do :; done")
            client.communicate(timeout=60)
        finally:
            client.kill()
        napis = kpoll_report(vm).napis
        irq0 = rx_irqs(vm)
        reply_ok = all(guest_answers(vm) for _ in range(3))
        irq1 = rx_irqs(vm)
    finally:
        stop_echo(vm)
        rmmod(vm)
    assert reply_ok, "guest unreachable after the server was killed"
    assert all(n.state != HELD for n in napis), napis
    assert irq1 >= irq0 + 3, f"RX IRQs after kill: {irq1 - irq0}"
    return f"queue state after kill: {[n.state for n in napis]}"


def test_kpollctl_reports_and_steers(vm: Vm) -> str:
    """kpollctl: errors without the module, enable starts holds and cuts RX IRQs, disable stops
    them, its counters move under load and its RX IRQ count agrees with /proc/interrupts."""
    rc, out = vm.run("kpollctl status")
    assert rc == 1 and "kpoll is not loaded" in out, (rc, out)
    start_memcached(vm)
    insmod(vm)
    try:
        rc, out = vm.run("kpollctl set watchdog=20")
        assert rc == 2 and "watchdog" in out, (rc, out)
        assert knob(vm, "watchdog_us") == KNOB_DEFAULTS["watchdog_us"]
        rc, out = vm.run("kpollctl set budget=abc")
        assert rc == 2, (rc, out)
        out = vm.check("kpollctl enable --port 11211")
        assert "11211" in out and knob(vm, "ports") == "11211", out
        vm.check("kpollctl set watchdog=100000")
        assert knob(vm, "watchdog_us") == "100000"
        before = kpoll_report(vm)
        on = measure_load(vm, seconds=3)
        after = kpoll_report(vm)
        irqs_now = rx_irqs(vm)
        out = vm.check("kpollctl disable")
        assert knob(vm, "ports") == "", out
        off = measure_load(vm, seconds=3)
        disabled = kpoll_report(vm)
        human = vm.check("kpollctl status")
    finally:
        rmmod(vm)
        stop_memcached(vm)
    t0, t1 = before.total, after.total
    assert t1["app_packets"] > t0["app_packets"] and t1["suspensions"] > t0["suspensions"], t1
    for key in t0:
        assert t1[key] >= t0[key], key
    reported = sum(i["rx_irqs"] for i in after.interfaces or [])
    assert 0 < reported <= irqs_now <= reported + 20, (reported, irqs_now)
    # Disabled: no socket is opted in, so no hold begins (holds still running end on their own).
    assert disabled.total["suspensions"] == after.total["suspensions"], (after.total,
                                                                          disabled.total)
    assert on.irqs_per_req <= IRQ_CUT_RATIO * off.irqs_per_req, (on.irqs_per_req,
                                                                  off.irqs_per_req)
    assert "NAPI" in human and "eth0" in human, human
    return f"enabled {on.irqs_per_req:.3f} vs disabled {off.irqs_per_req:.3f} IRQs/request"


def test_rmmod_under_load(vm: Vm) -> None:
    start_memcached(vm)
    insmod(vm)
    try:
        set_knob(vm, "ports", "11211")
        load = memcaslap_background(vm, 6, "-v", "0.1", stdout=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: total(vm, "suspensions") > 0, "a hold", 20)
            rmmod(vm)
            irq0 = rx_irqs(vm)
            wait_for(lambda: rx_irqs(vm) > irq0 + 10, "RX IRQs after rmmod", 10)
            out, _ = load.communicate(timeout=120)
        finally:
            load.kill()
    finally:
        rmmod(vm)
        stop_memcached(vm)
    assert load.returncode == 0, out
    assert "verify_failed: 0" in out, out[-800:]


TESTS = [
    test_boots_patched_kernel,
    test_module_loads_and_unloads,
    test_memcached_answers_from_host,
    test_load_raises_rx_irqs,
    test_memcached_port_optin_cuts_irqs,
    test_a_light_load_rests,
    test_bad_input_table,
    test_so_kpoll_echo_server_cuts_irqs,
    test_port_optin_stays_in_the_initial_netns,
    test_idle_hands_back_to_irqs,
    test_stalled_app_gets_irqs_back,
    test_link_down_up_while_held,
    test_server_killed_while_held,
    test_kpollctl_reports_and_steers,
    test_rmmod_under_load,
    *trust_tests.SINGLE_VCPU_TESTS,
]


def run(results: Results, kernel: str, initrd: str) -> None:
    run_tests(results, "vm", kernel, initrd, TESTS,
              "kpoll-test-console.log", os.environ.get("KPOLL_FLAVOUR"), vcpus=1)
