"""Writes to the `net.kpoll.*` sysctls that the handler must refuse, ignore or serialise.

A value is set by one `write()` at offset 0: an empty write changes nothing, a second
`write()` on the same open file fails with EINVAL, and writers racing each other (with a reader
sampling all along) leave and show only lists somebody wrote, never a mix of two. The writes
are made by tools/ kpoll-sysctl-write, which calls `write()` exactly as told and reports each
result, and which also samples the file with one `pread()` per read. One guest with 2 vCPUs, so
that the writers and the reader really run at the same time; each test loads kpoll and unloads
it again."""
import functools
import os
import shlex
from collections.abc import Callable

from harness.vm import Vm
from tests.guest import insmod, knob, rmmod, set_knob
from tests.guest_session import run_tests
from tests.tap import Results

TOOL = "kpoll-sysctl-write"
PORTS = "/proc/sys/net/kpoll/ports"
# The value every test starts from: not the default (empty), so that "cleared" is visible.
START = "7777"
# Two full lists (16 ports each, the maximum) with no port in common: any mix of the two, or of
# either with START, is a value nobody wrote.
LIST_A = " ".join(str(port) for port in range(1001, 1017))
LIST_B = " ".join(str(port) for port in range(2001, 2017))
# Writes per writer in the concurrency test.
ROUNDS = max(1, int(os.environ.get("KPOLL_SOAK", "1"))) * 3000
# Longest value text the handler accepts, including a newline (MAX_VALUE_LEN in
# rust/kernel/sysctl.rs).
MAX_VALUE_LEN = 255


def write_calls(vm: Vm, *data: str) -> list[str]:
    """Opens the ports file once and calls write() once per `data` item; returns one outcome
    per call ("ok N" or "error ERRNO")."""
    args = " ".join(shlex.quote(item) for item in data)
    lines = vm.check(f"{TOOL} {PORTS} {args}").splitlines()
    assert len(lines) == len(data), f"{len(data)} writes, outcomes: {lines}"
    return lines


def with_start_value(test: Callable[[Vm], str]) -> Callable[[Vm], str]:
    """Runs `test` with kpoll loaded and `ports` set to START; unloads kpoll afterwards."""
    @functools.wraps(test)
    def wrapped(vm: Vm) -> str:
        rc, out = vm.run(f"command -v {TOOL}")
        assert rc == 0, (f"{TOOL} is not in the guest (scripts/build-tools.sh must list it): "
                         f"{out}")
        insmod(vm)
        try:
            rc, out = set_knob(vm, "ports", START)
            assert rc == 0 and knob(vm, "ports") == START, (rc, out, knob(vm, "ports"))
            return test(vm)
        finally:
            rmmod(vm)
    return wrapped


@with_start_value
def test_empty_write_changes_nothing(vm: Vm) -> str:
    outcomes = write_calls(vm, "")
    assert outcomes == ["ok 0"], outcomes
    assert knob(vm, "ports") == START, f"an empty write left ports = {knob(vm, 'ports')!r}"
    return f"write(fd, \"\", 0) -> {outcomes[0]}; ports still {START}"


@with_start_value
def test_second_write_on_one_fd_is_refused(vm: Vm) -> str:
    outcomes = write_calls(vm, "11211", "22")
    assert outcomes == ["ok 5", "error EINVAL"], outcomes
    assert knob(vm, "ports") == "11211", f"after 11211 + 22 on one fd: {knob(vm, 'ports')!r}"
    # An empty write after the value, at offset 5, changes nothing either.
    outcomes_empty = write_calls(vm, "8080", "")
    assert outcomes_empty == ["ok 4", "ok 0"], outcomes_empty
    assert knob(vm, "ports") == "8080", f"after 8080 + '' on one fd: {knob(vm, 'ports')!r}"
    return f"11211 then 22: {outcomes}; 8080 then '': {outcomes_empty}"


@with_start_value
def test_overlong_write_is_refused(vm: Vm) -> str:
    # Blank text would be the empty list if it were accepted: refusing it must not clear ports.
    outcomes = write_calls(vm, " " * (MAX_VALUE_LEN + 1))
    assert outcomes == ["error EINVAL"], outcomes
    assert knob(vm, "ports") == START, knob(vm, "ports")
    outcomes = write_calls(vm, " " * (MAX_VALUE_LEN - 6) + "11211\n")
    assert outcomes == [f"ok {MAX_VALUE_LEN}"], outcomes
    assert knob(vm, "ports") == "11211", knob(vm, "ports")
    return f"{MAX_VALUE_LEN + 1} bytes refused, {MAX_VALUE_LEN} accepted"


@with_start_value
def test_reads_at_offsets(vm: Vm) -> str:
    """Reads are left to proc_dostring: one byte at a time (busybox dd bs=1) still gives the
    whole value, and a read past the end gives nothing."""
    rc, out = set_knob(vm, "ports", "11211 8080")
    assert rc == 0, out
    text = vm.check(f"dd if={PORTS} bs=1 2>/dev/null")
    assert text == "11211 8080\n", repr(text)
    tail = vm.check(f"dd if={PORTS} bs=1 skip=6 2>/dev/null")
    assert tail == "8080\n", repr(tail)
    past = vm.check(f"dd if={PORTS} bs=1 skip=11 2>/dev/null")
    assert past == "", repr(past)
    return "byte-wise read, read from offset 6 and past the end"


def tally(text: str) -> dict[str, int]:
    """Parses the reader's `<count> <value>` lines."""
    seen: dict[str, int] = {}
    for line in text.splitlines():
        count, _, value = line.partition(" ")
        seen[value] = seen.get(value, 0) + int(count)
    return seen


@with_start_value
def test_concurrent_writers_never_mix(vm: Vm) -> str:
    """Two processes write different lists ROUNDS times each (a fresh open per write) while a
    third samples the value with one pread() per sample."""
    stop, reads, out_a, out_b = ("/tmp/sysctl-stop", "/tmp/sysctl-reads", "/tmp/sysctl-writer-a",
                                 "/tmp/sysctl-writer-b")
    script = f"""
rm -f {stop}
{TOOL} --read-until {stop} {PORTS} > {reads} & reader=$!
{TOOL} --repeat {ROUNDS} {PORTS} '{LIST_A}' > {out_a} & a=$!
{TOOL} --repeat {ROUNDS} {PORTS} '{LIST_B}' > {out_b} & b=$!
wait $a; status_a=$?
wait $b; status_b=$?
touch {stop}
wait $reader; status_reader=$?
echo "exit $status_a $status_b $status_reader"
"""
    try:
        status = vm.check(script, timeout=600).strip().splitlines()[-1]
        assert status == "exit 0 0 0", status
        for path, value in ((out_a, LIST_A), (out_b, LIST_B)):
            outcomes = vm.check(f"sort {path} | uniq -c").split()
            assert outcomes == [str(ROUNDS), "ok", str(len(value))], (path, outcomes)
        seen = tally(vm.check(f"cat {reads}"))
        final = knob(vm, "ports")
    finally:
        vm.run(f"rm -f {stop} {reads} {out_a} {out_b}")
    mixed = {value: count for value, count in seen.items() if value not in (START, LIST_A, LIST_B)}
    assert not mixed, f"values nobody wrote, with how often they were read: {mixed}"
    assert final in (LIST_A, LIST_B), f"final value is nobody's write: {final!r}"
    # The reader ran while both writers did: it saw both lists come and go.
    assert seen.get(LIST_A) and seen.get(LIST_B), f"reader saw only {seen}"
    return (f"{ROUNDS} writes each; {sum(seen.values())} reads: {seen.get(LIST_A)} A, "
            f"{seen.get(LIST_B)} B, {seen.get(START, 0)} start value, none mixed")


TESTS = [
    test_empty_write_changes_nothing,
    test_second_write_on_one_fd_is_refused,
    test_overlong_write_is_refused,
    test_reads_at_offsets,
    test_concurrent_writers_never_mix,
]


def run(results: Results, kernel: str, initrd: str) -> None:
    run_tests(results, "sysctl (2 vCPUs)", kernel, initrd, TESTS, "kpoll-sysctl-console.log",
              os.environ.get("KPOLL_FLAVOUR"), vcpus=2)
