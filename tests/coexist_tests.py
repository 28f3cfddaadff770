"""kpoll beside the NAPI settings a server may already run with (issue: trust).

A queue kpoll holds may also be polled by NAPI's own machinery: a NAPI thread instead of the
softirq (`threaded`), busy polling from `recv()` and `epoll_wait()` (`net.core.busy_read`,
`net.core.busy_poll`), or IRQ deferral (`napi_defer_hard_irqs` with `gro_flush_timeout`, whose
timer keeps the IRQ masked on its own). Each shares NAPI's state bits with kpoll's parking, so
each gets a run of its own: verified echoes over 16 connections with the setting on, then the
queue must be back on its IRQ once the server stops, and the setting is put back."""
from __future__ import annotations

from collections.abc import Callable

from harness.vm import Vm
from tests.echo import echo_load, start_echo, stop_echo
from tests.guest import SOAK, assert_irqs_return, insmod, rmmod, total, wait_no_hold

NET = "/sys/class/net/eth0"
CORE = "/proc/sys/net/core"
# Rounds of 2000 more echoes at most, where the first 6000 brought no hold.
MORE_ROUNDS = 10


def coexist(vm: Vm, setting: str, restore: str, port: int) -> str:
    """Echo load with `setting` (a guest command) in force; `restore` undoes it."""
    insmod(vm)
    try:
        vm.check(setting)
        start_echo(vm, f"--port {port} --so-kpoll")
        holds0, packets0 = total(vm, "suspensions"), total(vm, "app_packets")
        echoed = echo_load(vm, port, conns=16, requests=6000 * SOAK)
        # Where NAPI's own polling finds most packets first (busy polling, a slow guest),
        # admission takes few holds: load on, a round at a time, until one is seen.
        for _ in range(MORE_ROUNDS):
            if total(vm, "suspensions") > holds0:
                break
            echoed += echo_load(vm, port, conns=16, requests=2000)
        holds, packets = total(vm, "suspensions") - holds0, total(vm, "app_packets") - packets0
        stop_echo(vm)
        wait_no_hold(vm, "after the server stopped")
        vm.check(restore)
        assert_irqs_return(vm)
    finally:
        stop_echo(vm)
        vm.run(restore)
        rmmod(vm)
    assert holds > 0, "kpoll never held the queue"
    return f"{echoed} echoes, 0 wrong; {holds} holds, {packets} packets polled; IRQs back"


def test_kpoll_with_threaded_napi(vm: Vm) -> str:
    """The RX NAPI runs in its kthread (`threaded` = 1)."""
    return coexist(vm, f"echo 1 > {NET}/threaded", f"echo 0 > {NET}/threaded", 7130)


def test_kpoll_with_busy_polling(vm: Vm) -> str:
    """Global busy polling, 50 µs for reads and for epoll_wait()."""
    return coexist(vm, f"echo 50 > {CORE}/busy_read && echo 50 > {CORE}/busy_poll",
                   f"echo 0 > {CORE}/busy_read && echo 0 > {CORE}/busy_poll", 7131)


def test_kpoll_with_irq_deferral(vm: Vm) -> str:
    """IRQ deferral: 2 empty polls, 200 µs apart, before the driver re-enables the IRQ."""
    return coexist(vm, f"echo 2 > {NET}/napi_defer_hard_irqs && "
                       f"echo 200000 > {NET}/gro_flush_timeout",
                   f"echo 0 > {NET}/napi_defer_hard_irqs && echo 0 > {NET}/gro_flush_timeout",
                   7132)


TESTS: list[Callable[[Vm], str]] = [
    test_kpoll_with_threaded_napi,
    test_kpoll_with_busy_polling,
    test_kpoll_with_irq_deferral,
]
