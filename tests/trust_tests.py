"""Tests of the trust issue's findings: holds owned by the epoll that took them, queues whose
sockets are gone handed back, NAPI table entries reclaimed across unbind/rebind, IPv6 sockets
opted in by port. Each test function takes the booted Vm and leaves the guest as it found it;
vm_suite.py and fault_suite.py list them next to their own tests."""
from __future__ import annotations

import re
import subprocess

from harness.kpoll_status import HELD, kpoll_report
from harness.loadgen import build_loadgen, run_json
from harness.memcached import (
    MEMCACHED_PORT,
    PID_FILE,
    memcache_request,
    start_memcached,
    stop_memcached,
)
from harness.netns import GUEST_IP as GUEST
from harness.vm import Vm
from harness.wait import wait_for
from tests.echo import echo_client, start_echo, stop_echo
from tests.guest import (
    guest_answers,
    insmod,
    knob_command,
    memcaslap_background,
    rmmod,
    set_knob,
    total,
    wait_new_holds,
)

HOLDER_PORT = 7301
CONSUMER_PORT = 7302
# The watchdog of the ownership tests: long, so that a hold left behind shows as a round trip
# of the order of a second, far from the few milliseconds of a queue that went back to its IRQ.
LONG_WATCHDOG_US = 1_000_000
# "Far below the watchdog": a quarter of it.
FAR_BELOW_WATCHDOG_MS = LONG_WATCHDOG_US / 1000 / 4

STREAM = r"""
import socket, sys, time
# Sends 512 bytes every millisecond until the guest answers "H" (it holds the queue), then
# stays connected, silent, until killed.
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.setblocking(False)
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        if s.recv(1) == b"H":
            break
    except BlockingIOError:
        pass
    try:
        s.send(b"x" * 512)
    except BlockingIOError:
        pass
    time.sleep(0.001)
time.sleep(3600)
"""

PING_P99 = r"""
import socket, sys, time
# One small echo every millisecond for the given seconds; prints "count p50_ms p99_ms worst_ms".
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
times = []
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    msg = b"ping %06d\n" % len(times)
    t0 = time.monotonic()
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        data = s.recv(64)
        if not data:
            sys.exit("connection closed")
        got += data
    assert got == msg
    times.append((time.monotonic() - t0) * 1000)
    time.sleep(0.001)
times.sort()
pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
print(len(times), round(pick(0.5), 2), round(pick(0.99), 2), round(times[-1], 2))
"""


def queue_states(vm: Vm) -> list[str]:
    return [n.state for n in kpoll_report(vm).napis]


def log_has(vm: Vm, log: str, word: str) -> bool:
    return word in vm.run(f"cat {log}")[1]


def wait_log(vm: Vm, log: str, word: str, timeout: float = 30, interval: float = 0.05) -> None:
    """Waits for `word` in a guest program's log; fails with the log if it reports an error
    or never says it."""
    def said() -> bool:
        text = vm.run(f"cat {log}")[1]
        assert "error" not in text, f"{log}: {text[-500:]}"
        return word in text
    try:
        wait_for(said, f"{word} in {log}", timeout, interval)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {log}: {vm.run(f'cat {log}')[1][-500:]!r}") from None


# Times the ownership scenario is set up again when the queue was not held at go (see
# `holder_leaves`).
HOLD_ATTEMPTS = 3


class HoldLostBeforeGo(Exception):
    """The queue was not held when the holder was told to go, or just before its way out: the
    way out under test never ran with the queue held."""


def holder_leaves(vm: Vm, then: str, between: str = "") -> str:
    """`holder_leaves_once`, set up again (at most `HOLD_ATTEMPTS` times) when the queue was not
    held at go or just before the way out (the holder prints `GO released` or `OUT released`):
    that is the precondition failing, not the way out under test, and every assertion about the
    way out stays as it is. The holder stays busy in epoll_wait() until go, working about one
    stream period after each return, so this should not happen. Before it waited in nanosleep(),
    the test's steps between HELD and go took 1.2-2.5 s on a slow debug guest, longer than the
    1 s watchdog, and the watchdog fire failed the test (CI: 2 tests); before it worked between
    returns, it returned faster than the stream's packets, its streak on the queue ended after
    3 returns without them, and its hold came and went (a 2-core host's debug guest: 3 of 15
    runs not held at go in 3 attempts, 16 attempts lost in 15 runs)."""
    lost: list[str] = []
    while True:
        try:
            result = holder_leaves_once(vm, then, between)
        except HoldLostBeforeGo as e:
            lost.append(str(e))
            if len(lost) >= HOLD_ATTEMPTS:
                raise AssertionError(f"the queue was not held at go or at the way out in "
                                     f"{len(lost)} attempts: {lost}") from None
            continue
        return result + (f"; set up again after {lost}" if lost else "")


def holder_leaves_once(vm: Vm, then: str, between: str = "") -> str:
    """Consumer (echo server, opted in, never holding: one request at a time) and holder
    (kpoll-holder) share the single RX queue. The holder takes the hold, `between` runs, the
    holder leaves epoll_wait() as `then` says; the consumer's round trips must then be answered
    far below the 1 s watchdog. Every way out of epoll_wait() but `sleep` must give the queue
    back at once (no watchdog fire); a holder asleep outside epoll keeps its hold until the
    watchdog, and meanwhile the watchdog's service polls answer the consumer."""
    log = "/tmp/holder.log"
    insmod(vm)
    stream = None
    try:
        for name, value in (("watchdog_us", LONG_WATCHDOG_US),
                            ("ports", f"{HOLDER_PORT} {CONSUMER_PORT}")):
            rc, out = set_knob(vm, name, value)
            assert rc == 0, out
        start_echo(vm, f"--port {CONSUMER_PORT}", log="/tmp/consumer.log")
        vm.check("rm -f /tmp/go")
        vm.check(f"(kpoll-holder --port {HOLDER_PORT} --go-file /tmp/go --then {then} "
                 f"> {log} 2>&1 &)")
        wait_log(vm, log, "READY")
        fires0 = total(vm, "watchdog_fires")
        stream = vm.host_popen(["python3", "-c", STREAM, GUEST, str(HOLDER_PORT)])
        wait_log(vm, log, "HELD", 60, 0.02)
        # The consumer is pinged every millisecond from now on, across the holder's way out of
        # epoll_wait() and after it: a hold it leaves behind shows as a round trip of the order
        # of the watchdog.
        pings = vm.host_popen(["python3", "-c", PING_P99, GUEST, str(CONSUMER_PORT), "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # One guest command: the steps between HELD and go must stay well inside the watchdog.
        vm.check(f"{between} && touch /tmp/go" if between else "touch /tmp/go")
        # No guest command while the holder goes out: each would take the holder's CPU for
        # milliseconds, past its adaptive deadline.
        out, err = pings.communicate(timeout=60)
        assert pings.returncode == 0, err
        done = {"empty": "EMPTY", "empty-blocking": "EMPTY", "close-spin": "CLOSED",
                "sleep": "SLEEPING"}[then]
        wait_log(vm, log, done, 30, 0.02)
        count, _, _, worst_ms = out.split()
        states = queue_states(vm)
        if then == "sleep":
            wait_for(lambda: HELD not in queue_states(vm), "the watchdog's release",
                     10 * LONG_WATCHDOG_US / 1e6, 0.05)
        fires = total(vm, "watchdog_fires") - fires0
        holder_log = vm.run(f"cat {log}")[1]
    finally:
        if stream is not None:
            stream.kill()
        vm.run("killall kpoll-holder; while pidof kpoll-holder >/dev/null; do :; done")
        stop_echo(vm)
        rmmod(vm)
    assert "error" not in holder_log, holder_log
    go = re.search(r"^GO (held|released) watchdog_fires=(\d+)$", holder_log, re.M)
    way_out = re.findall(r"^OUT (held|released) watchdog_fires=(\d+)$", holder_log, re.M)
    assert go and way_out, holder_log
    if go[1] == "released":
        raise HoldLostBeforeGo(go[0])
    if way_out[-1][0] == "released":
        raise HoldLostBeforeGo(f"OUT {way_out[-1][0]} (after {go[0]})")
    # Fires from the way out on (the holder's read just before it) are the way out's; earlier
    # ones happened while the holder was still busy in epoll_wait(), before go (around the knob
    # write) or between go and the way out (the stream's last packets): an adaptive deadline
    # shorter than a stall of the guest, which is not what this test is about. Reported, not
    # judged. (CI on the debug guest: 1 fire from go on, when the test still polled the
    # holder's log while it went out and counted from go.)
    fires_before_go = int(go[2]) - fires0
    fires_before_out = int(way_out[-1][1]) - fires0
    fires -= fires_before_out
    assert float(worst_ms) < FAR_BELOW_WATCHDOG_MS, (
        f"consumer waited {worst_ms} ms while the holder left epoll_wait ({then}) "
        f"(watchdog {LONG_WATCHDOG_US // 1000} ms)")
    if then == "sleep":
        assert fires >= 1, "the hold of a holder asleep outside epoll_wait() was never released"
        return (f"{count} consumer pings during the stranded hold, worst {worst_ms} ms; released "
                f"by the watchdog ({fires} fire)")
    measured = f"consumer worst round trip {worst_ms} ms over {count} pings"
    assert HELD not in states, f"queue still held after the holder left: {states}; {measured}"
    assert fires == 0, (f"{fires} watchdog fire(s): the hold was not given back by its owner; "
                        f"{measured}")
    return (f"{count} consumer pings, worst {worst_ms} ms; queue {states}; watchdog fires "
            f"before go {fires_before_go}, before the way out {fires_before_out}")


def test_holder_zero_timeout_empty_return_gives_the_queue_back(vm: Vm) -> str:
    """Finding 6: a process takes the hold with zero-timeout epoll_wait() calls returning an
    always-ready eventfd, returns 0 once, then blocks in pause()."""
    return holder_leaves(vm, "empty")


def test_holder_empty_return_after_a_knob_write_gives_the_queue_back(vm: Vm) -> str:
    """Finding 6: as above, with a write of net.kpoll.ports (same value: a new configuration
    epoch) between taking the hold and going to sleep in epoll_wait()."""
    # `vm.check` fails if the write does.
    return holder_leaves(vm, "empty-blocking",
                         knob_command("ports", f"{HOLDER_PORT} {CONSUMER_PORT}"))


def test_holder_asleep_outside_epoll_does_not_starve_the_queue(vm: Vm) -> str:
    """Finding 6: the holder takes the hold and then sleeps in nanosleep(), never returning to
    epoll_wait(): until the watchdog releases the hold, the watchdog's service polls serve the
    queue, so the consumer's round trips stay far below the watchdog."""
    return holder_leaves(vm, "sleep")


def test_queue_whose_last_socket_closed_goes_back_to_irq(vm: Vm) -> str:
    """Finding 5 (stale slots): the holder closes its only socket on the held queue and stays
    busy in epoll_wait() on other work (an eventfd): the queue goes back to its IRQ."""
    return holder_leaves(vm, "close-spin")


# --- hostage: a holder that comes back just under the watchdog ------------------------------


HOSTAGE_BATCH_MS = 8
HOSTAGE_NEAR_WATCHDOG_US = 10_000
# What the hold may add to the bystander's latency. A holder that kept the queue to itself for
# its batches would make the bystander's pings wait for the batch's end: about half a batch
# (4 ms) more at the median and most of a batch at the p99. Service polls every millisecond
# keep both far below that; the bounds sit halfway, wide of the guest's timing noise (the p99s
# of rounds of the same setting differ by up to 1.5 ms on a 2-core host).
BYSTANDER_P50_MS = HOSTAGE_BATCH_MS / 4
BYSTANDER_P99_MS = HOSTAGE_BATCH_MS / 2
# Rounds of (floor, hold) in the near-watchdog hostage test.
HOSTAGE_ROUNDS = 3
HOLDER_LOG = "/tmp/near-holder.log"


def bystander_pings(vm: Vm, seconds: float) -> tuple[int, float, float, float]:
    proc = vm.host(["python3", "-c", PING_P99, GUEST, "7402", str(seconds)], timeout=60)
    assert proc.returncode == 0, proc.stderr
    count, p50, p99, worst = proc.stdout.split()
    return int(count), float(p50), float(p99), float(worst)


def busy_holder_pings(vm: Vm, so_kpoll: bool, bystander: str) -> tuple[int, float, float, float]:
    """Bystander pings while app A, opted in with SO_KPOLL or not, works 8 ms after every
    request of its one closed-loop connection; A is stopped afterwards, the bystander (its
    PID `bystander`) left running."""
    opt_in, log = ("--so-kpoll ", HOLDER_LOG) if so_kpoll else ("", "/tmp/busy-plain.log")
    start_echo(vm, f"--port 7401 {opt_in}--fault stall --fault-after 50 --fault-every 1 "
                   f"--stall-ms {HOSTAGE_BATCH_MS}", log=log)
    client = None
    try:
        # One connection, closed loop: every batch is one request, and with the 8 ms stall after
        # it A returns to epoll_wait() just under the watchdog, where the next request waits.
        client = echo_client(vm, 7401, 1, 10**9)
        wait_for(lambda: log_has(vm, log, "STALL-END"),
                 "the holder's first 8 ms batch", 60, 0.05)
        return bystander_pings(vm, 5)
    finally:
        if client is not None:
            client.kill()
            client.wait()
        stop_echo(vm, keep=bystander)


def test_holder_busy_just_under_the_watchdog_does_not_hold_others_hostage(vm: Vm) -> str:
    """Finding 5: holder A works 8 ms after every batch (watchdog 10 ms), so it comes back to
    epoll_wait() just in time, again and again; app B (not opted in) on the same queue is pinged
    every millisecond: A's hold adds less than a quarter of A's batch to B's p50 and less than
    half of it to B's p99 (the held queue gets service polls). The floor is B's latency beside
    the same busy A without the hold: A's spinning alone slows B on a 2-vCPU guest of a 2-core
    host, whoever holds what. Floor and hold alternate for a few rounds and the median of what
    each round's hold adds is judged, so that one burst of host load in one phase decides
    nothing."""
    insmod(vm)
    rounds: list[tuple[tuple[int, float, float, float], tuple[int, float, float, float]]] = []
    holds = fires = polls = stalls = 0
    try:
        rc, out = set_knob(vm, "watchdog_us", HOSTAGE_NEAR_WATCHDOG_US)
        assert rc == 0, out
        start_echo(vm, "--port 7402", log="/tmp/bystander.log")
        bystander = vm.check("pidof kpoll-echo").strip()
        alone = bystander_pings(vm, 3)
        for _ in range(HOSTAGE_ROUNDS):
            floor = busy_holder_pings(vm, False, bystander)
            before = kpoll_report(vm).total
            during = busy_holder_pings(vm, True, bystander)
            after = kpoll_report(vm).total
            rounds.append((floor, during))
            holds += int(after["suspensions"]) - int(before["suspensions"])
            fires += int(after["watchdog_fires"]) - int(before["watchdog_fires"])
            polls += int(after.get("service_polls", 0)) - int(before.get("service_polls", 0))
            stalls += int(vm.run(f"grep -c STALL-END {HOLDER_LOG}")[1].strip() or 0)
    finally:
        stop_echo(vm)
        rmmod(vm)
    added_p50 = sorted(round(during[1] - floor[1], 2) for floor, during in rounds)
    added = sorted(round(during[2] - floor[2], 2) for floor, during in rounds)
    shown = "; ".join(f"p99 {during[2]} ms, p50 {during[1]} ms ({during[0]} pings) beside "
                      f"{floor[2]} ms, {floor[1]} ms" for floor, during in rounds)
    assert holds > 0, "the holder never held the queue: the test shows nothing"
    for what, adds, bound in (("p50", added_p50, BYSTANDER_P50_MS),
                              ("p99", added, BYSTANDER_P99_MS)):
        assert adds[len(adds) // 2] < bound, (
            f"the hold adds a median {adds[len(adds) // 2]} ms to the bystander's {what}, "
            f"bound {bound} ms (rounds: {shown}; the holder works {HOSTAGE_BATCH_MS} ms per "
            f"batch; alone {alone[2]} ms)")
    assert fires * 4 < holds or polls > 0, (
        f"{fires} watchdog fires for {holds} holds: the holder did not come back in time")
    return (f"bystander with the hold beside without it, per round: {shown}; added "
            f"{added} ms at the p99, {added_p50} ms at the p50; alone {alone[2]} ms; holder: "
            f"{stalls} batches of {HOSTAGE_BATCH_MS} ms, {holds} holds, {fires} watchdog fires, "
            f"{polls} service polls")


# --- IPv6 ---------------------------------------------------------------------------------

GUEST6 = "fd00:6b70::2"
HOST6 = "fd00:6b70::1"


def test_ipv6_sockets_opt_in_by_port(vm: Vm) -> str:
    """memcached listening on IPv6 is opted in by net.kpoll.ports: under verified load over
    IPv6 kpoll holds and polls the queue."""
    exe = build_loadgen()
    vm.host(["ip", "addr", "replace", f"{HOST6}/64", "dev", "tap0", "nodad"], check=True)
    # busybox's ip has no `nodad`: switch duplicate address detection off for eth0 instead.
    vm.check("echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && "
             f"ip -6 addr add {GUEST6}/64 dev eth0")
    wait_for(lambda: "tentative" not in vm.run("ip -6 addr show dev eth0")[1],
             "the guest's IPv6 address usable", 10)
    # The pid file where stop_memcached() looks (memcached writes it as `nobody`).
    vm.check(f"memcached -u nobody -t 1 -l {GUEST6} -p {MEMCACHED_PORT} -c 4096 -d "
             f"-P {PID_FILE}")
    wait_for(lambda: vm.run(f"grep -q ':{MEMCACHED_PORT:04X} ' /proc/net/tcp6")[0] == 0,
             "memcached listening on IPv6")
    insmod(vm)
    try:
        rc, out = set_knob(vm, "ports", MEMCACHED_PORT)
        assert rc == 0, out
        before = kpoll_report(vm).total
        proc, report = run_json(vm, exe, ["--json", "--closed", "--connections", "16",
                                          "--duration", "3", "--warmup", "0", "--keys", "1000"],
                                120, server=f"[{GUEST6}]:{MEMCACHED_PORT}")
        after = kpoll_report(vm).total
    finally:
        rmmod(vm)
        stop_memcached(vm)
        vm.run(f"ip -6 addr del {GUEST6}/64 dev eth0")
    assert report is not None, f"kpoll-loadgen over IPv6 failed: {proc.stderr[-2000:]}"
    requests, errors = report["requests"]["total"], report["errors"]["total"]
    holds = int(after["suspensions"]) - int(before["suspensions"])
    polled = int(after["app_packets"]) - int(before["app_packets"])
    assert requests > 0 and errors == 0, report
    assert holds > 0 and polled > 0, f"no kpoll hold over IPv6: {before} -> {after}"
    return f"{requests} verified requests over IPv6, {holds} holds, {polled} packets polled"


# --- the NAPI functions outside the contexts kpoll calls them in ------------------------------

CONTEXT_LINE = re.compile(r"kpoll_contexts: (\w+): napi (\d+) ran (\d) name_len (\d+) polled (\d+)")


def test_napi_functions_refuse_hardirq_context(vm: Vm) -> str:
    """Review finding: kpoll's safe NAPI functions, called from an hrtimer callback by the test
    module kpoll_contexts.ko (tests/kmod/), must not run a NAPI poll there (`poll_once`, whose
    bottom-half section lockdep warns about in hardirq context) or wait out a device rename in
    hardirq context (`device_name`): both return 0. The callback runs in hardirq context with
    IRQs disabled, except on PREEMPT_RT, where it runs in softirq context and `device_name` may
    work. In process context the same calls work: the device's name, a poll. Any kernel warning
    fails the suite."""
    rt = "PREEMPT_RT" in vm.check("uname -v")
    vm.check("dmesg -c > /dev/null")
    rc, out = vm.run("insmod /lib/kpoll/kpoll_contexts.ko")
    log = vm.check("dmesg")
    vm.run("rmmod kpoll_contexts")
    assert rc == 0, f"insmod kpoll_contexts.ko: {out}\n{log}"
    seen = {m[1]: m for m in CONTEXT_LINE.finditer(log)}
    assert set(seen) == {"process", "timer"}, log
    process, timer = seen["process"], seen["timer"]
    assert process[3] == "1" and int(process[4]) == len("eth0"), f"process context: {log}"
    assert timer[3] == "1", f"the timer's probe found no NAPI: {log}"
    assert timer[5] == "0", f"polled from the timer callback: {log}"
    if not rt:
        assert timer[4] == "0", f"device name read in hardirq context: {log}"
    return (f"NAPI {process[2]}: process context name {process[4]} bytes, {process[5]} packets "
            f"polled; timer callback ({'softirq' if rt else 'hardirq'}) name {timer[4]} bytes, "
            "0 packets polled")


# --- unbind/rebind: NAPI IDs come and go -----------------------------------------------------

def unbind_rebind(vm: Vm) -> None:
    dev = vm.check("basename $(readlink /sys/class/net/eth0/device)").strip()
    vm.check(f"echo {dev} > /sys/bus/virtio/drivers/virtio_net/unbind")
    vm.check(f"echo {dev} > /sys/bus/virtio/drivers/virtio_net/bind")
    wait_for(lambda: vm.run("test -e /sys/class/net/eth0")[0] == 0, "eth0 back", 30)
    vm.check(f"ip addr replace {GUEST}/24 dev eth0 && ip link set eth0 up")
    wait_for(lambda: guest_answers(vm), "the guest answering after rebind", 30, 0.2)


def test_rebind_50_times_keeps_holding(vm: Vm) -> str:
    """Finding 3: the two-queue NIC is unbound and bound again 50 times (new NAPI IDs each
    time, 100 in all: more than the table has entries); after every rebind a held load gets new
    holds, the totals never go down and nothing is left untracked."""
    return rebind_rounds(vm, 50)


def test_rebind_34_times_keeps_holding(vm: Vm) -> str:
    """As the 50-round test, for the slower KASAN kernel: 68 NAPI IDs, still more than the
    table's 64 entries, so entries of gone NAPIs must be reclaimed."""
    return rebind_rounds(vm, 34)


def rebind_rounds(vm: Vm, rounds: int) -> str:
    start_memcached(vm, "-t 2")
    insmod(vm)
    seen: set[int] = set()
    per_round = []
    last_total = 0
    load = None
    try:
        rc, out = set_knob(vm, "ports", MEMCACHED_PORT)
        assert rc == 0, out
        for i in range(rounds):
            unbind_rebind(vm)
            before = total(vm, "suspensions")
            assert before >= last_total, f"round {i}: totals went down {last_total} -> {before}"
            load = memcaslap_background(vm, 600)
            wait_new_holds(vm, seen, f"in round {i}")
            load.kill()
            load.wait()
            load = None
            report = kpoll_report(vm)
            last_total = int(report.total["suspensions"])
            per_round.append(last_total - before)
            seen |= {n.napi_id for n in report.napis if n.state != "gone"}
        config = kpoll_report(vm).config
        reply = memcache_request(vm, b"set rebind 0 0 2\r\nok\r\nget rebind\r\n")
    finally:
        if load is not None:
            load.kill()
        rmmod(vm)
        stop_memcached(vm)
    assert reply == b"STORED\r\nVALUE rebind 0 2\r\nok\r\nEND\r\n", reply
    assert all(h > 0 for h in per_round), f"rounds without a new hold: {per_round}"
    assert int(config["untracked"]) == 0, config
    assert int(config["reclaimed"]) > 0, f"{len(seen)} NAPIs seen but nothing reclaimed"
    return (f"{rounds} rebinds, {len(seen)} NAPI IDs held, holds per round "
            f"{min(per_round)}..{max(per_round)}; reclaimed={config['reclaimed']} "
            f"untracked=0; totals never went down")


# Lists for the suites.
SINGLE_VCPU_TESTS = [
    test_holder_zero_timeout_empty_return_gives_the_queue_back,
    test_holder_empty_return_after_a_knob_write_gives_the_queue_back,
    test_holder_asleep_outside_epoll_does_not_starve_the_queue,
    test_queue_whose_last_socket_closed_goes_back_to_irq,
]
SINGLE_QUEUE_TESTS = [
    test_holder_busy_just_under_the_watchdog_does_not_hold_others_hostage,
    test_ipv6_sockets_opt_in_by_port,
    test_napi_functions_refuse_hardirq_context,
]
TWO_QUEUE_TESTS = [test_rebind_50_times_keeps_holding]
SHORT_TWO_QUEUE_TESTS = [test_rebind_34_times_keeps_holding]
