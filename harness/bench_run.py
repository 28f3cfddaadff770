"""Runs the benchmark's measurements in one guest boot: every configuration, every load, the
configuration order rotated from one repetition to the next so that no configuration always
runs in the same slot.
"""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import bench_configs as bc
from harness import neighbours
from harness.guest_api import Guest
from harness.load_run import Load, Run, edge_busy_ns, idle_run, measured_run
from harness.loadgen import preload
from harness.memcached import memcached_command, start_memcached, stop_memcached

LOADS: tuple[Load, ...] = (
    Load("sat", 16),
    Load("low", 1),
    Load("open10", 16, closed=False, rate_fraction=0.10),
    Load("open30", 16, closed=False, rate_fraction=0.30),
    Load("depth4", 4, depth=4),
    Load("sat_etc", 16, etc=True),
    Load("open30_etc", 16, closed=False, rate_fraction=0.30, etc=True),
    Load("sat32", 32),
    Load("open30_32", 32, closed=False, rate_fraction=0.30),
)
SINGLE_QUEUE_LOADS = ("sat", "low", "open10", "open30", "depth4", "sat_etc", "open30_etc")
# depth4 pins the batching for the cost metric; the wall boot reports what users see.
WALL_LOADS = tuple(ld for ld in SINGLE_QUEUE_LOADS if ld != "depth4")
MQ_CONFIGS = ("vanilla", "upstream 6.13 semantics", "kpoll")
MULTI_QUEUE_LOADS = ("sat32", "open30_32")


@dataclass(frozen=True)
class BootSpec:
    """One guest boot of the benchmark: how QEMU runs, how memcached runs, which loads."""

    name: str
    icount: bool
    vcpus: int
    queues: int
    memcached_args: str
    loads: tuple[str, ...]
    about: str
    configs: tuple[str, ...] | None = None  # None: all
    guest_args: str = ""  # added to the guest kernel's command line


# virtio-net raises a TX-completion IRQ on a vector of its own (its TX NAPI), which kpoll's
# hold of the receive queue does not cover; NICs whose queue pair shares one IRQ have no such
# second interrupt. virtio_net.napi_tx=0 turns those IRQs off (TX buffers are reaped at the
# next transmit), so these boots show what holding is worth where the held IRQ is the queue's
# only one.
NO_TX_IRQ_ARGS = "virtio_net.napi_tx=0"
NO_TX_IRQ_LOADS = ("sat", "low", "open10", "open30", "depth4")
NO_TX_IRQ_WALL_LOADS = ("sat", "low")
NO_TX_IRQ_CONFIGS = ("vanilla", "upstream 6.13 semantics", "kpoll", bc.NO_OPT_IN)
NO_TX_IRQ_BOOTS = ("cpu_notx", "wall_notx")


BOOTS: tuple[BootSpec, ...] = (
    BootSpec("cpu", True, 1, 1, "-t 1", SINGLE_QUEUE_LOADS,
             "icount, 1 vCPU, 1 queue: guest instructions per request"),
    BootSpec("wall", False, 1, 1, "-t 1", WALL_LOADS,
             "wall clock, 1 vCPU, 1 queue: rates and latencies",
             tuple(c.name for c in bc.CONFIGS if c.name not in (bc.NO_OPT_IN, bc.NO_RESTS))),
    BootSpec("mq", False, 2, 2, "-t 2", MULTI_QUEUE_LOADS,
             "wall clock, 2 vCPUs (MTTCG), 2-queue virtio-net, memcached -t 2", MQ_CONFIGS),
    BootSpec("mq_napi", False, 2, 2, "-t 2 -N 2", MULTI_QUEUE_LOADS,
             "as mq, memcached -t 2 -N 2 (NAPI-aware thread selection)", MQ_CONFIGS),
    # icount runs every vCPU in one host thread (round robin): the two vCPUs share one host
    # core and the load generator has the other, so the server, not the host, is saturated.
    BootSpec("mq_cpu", True, 2, 2, "-t 2", MULTI_QUEUE_LOADS,
             "icount, 2 vCPUs in one host thread, 2-queue virtio-net, memcached -t 2: CPU time "
             "per request in icount time", MQ_CONFIGS),
    BootSpec("mq_napi_cpu", True, 2, 2, "-t 2 -N 2", MULTI_QUEUE_LOADS,
             "as mq_cpu, memcached -t 2 -N 2", MQ_CONFIGS),
    BootSpec("cpu_notx", True, 1, 1, "-t 1", NO_TX_IRQ_LOADS,
             f"as cpu, with `{NO_TX_IRQ_ARGS}`: no TX-completion IRQs", NO_TX_IRQ_CONFIGS,
             NO_TX_IRQ_ARGS),
    BootSpec("wall_notx", False, 1, 1, "-t 1", NO_TX_IRQ_WALL_LOADS,
             f"as wall, with `{NO_TX_IRQ_ARGS}`: no TX-completion IRQs",
             tuple(c for c in NO_TX_IRQ_CONFIGS if c != bc.NO_OPT_IN), NO_TX_IRQ_ARGS),
)
WALL_MQ_BOOTS = ("mq", "mq_napi")
CPU_MQ_BOOTS = ("mq_cpu", "mq_napi_cpu")


# The paired comparison: the 1-connection load, base and candidate alternating in one memcached.
PAIRED_LOAD = "low"
PAIRED_CONFIGS = ("vanilla", "kpoll")


@dataclass(frozen=True)
class Profile:
    reps: int
    duration: float
    warmup: float
    idle: float
    loads: tuple[str, ...]
    configs: tuple[str, ...] | None = None
    pairs: int = 0  # paired windows of the low load (see run_pairs); 0: none
    paired: tuple[str, str] = PAIRED_CONFIGS  # (base, candidate) of the pairs


PROFILES = {
    "full": Profile(5, 3.0, 0.5, 2.0, tuple(ld.name for ld in LOADS), pairs=12),
    "quick": Profile(2, 2.5, 0.5, 1.0, tuple(ld.name for ld in LOADS)),
    "smoke": Profile(1, 1.5, 0.5, 1.0, ("sat", "low", "open30", "sat_etc", "sat32"),
                     ("vanilla", "kpoll")),
}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def short(run: Run) -> str:
    if run.failed:
        return "LOADGEN FAILED"
    insns = run.instructions_per_req
    cost, unit = (insns, "insn/req") if insns is not None else (run.busy_per_req, "busy ns/req")
    irq = run.irqs_per_req
    return (f"{run.rate or 0:8.0f} rps p50 {run.p50_us or 0:7.0f} p99 {run.p99_us or 0:8.0f} µs "
            f"{irq if irq is not None else float('nan'):.4f} irq/req "
            f"{cost if cost is not None else float('nan'):9.0f} {unit} "
            f"err {run.errors} miss {run.misses}")


def window_order(load: Load) -> tuple[int, float, int]:
    """The order of a configuration's windows in its memcached: open loops (lightest first),
    then closed loops by the requests they keep in flight. memcached pays for a window's work
    partly after it, in the windows that follow (its LRU maintainer thread re-sorts the items
    the window's requests touched). An open loop is offered the same requests in every
    configuration, so what it leaves behind is the same for all; a closed loop serves more
    where the configuration is faster, so a window that follows it is charged the difference.
    Measured (cpu boot, 6 rounds): kpoll's 1-connection window cost 1.056x [1.007-1.072] the
    instructions per request right after a saturation window as without one, the extra all in
    memcached's user space (its hash function and lock attempts); after a vanilla saturation
    window lengthened to serve as many requests as kpoll's, memcached's user space in the next
    window cost as much as after kpoll's. So no window follows a closed loop that keeps more
    requests in flight than it does."""
    if not load.closed:
        return (0, load.rate_fraction or 0.0, 0)
    # As many in flight: fewer connections (deeper pipelines) first, saturation last.
    return (1, float(load.connections * load.depth), load.connections)


def window_groups(loads: list[Load]) -> list[tuple[bool, list[Load]]]:
    """The loads of one configuration's memcached by preload (fixed sizes, then ETC), each
    group in window_order()."""
    groups = [(etc, sorted((ld for ld in loads if ld.etc == etc), key=window_order))
              for etc in (False, True)]
    return [(etc, group) for etc, group in groups if group]


def window_sequence(loads: list[Load]) -> list[str]:
    """The windows of one configuration in the order measure_config() runs them."""
    return [name for etc, group in window_groups(loads)
            for name in ([] if etc else ["idle"]) + [ld.name for ld in group]]


def measure_config(vm: Guest, exe: str, cfg: bc.Config, prof: Profile, base_rps: float,
                   loads: list[Load], memcached_args: str) -> dict[str, Any]:
    """All loads of one configuration, memcached started afresh with its environment; the idle
    window first, after the preload only (the same work in every configuration), then the
    loads in window_order()."""
    runs: dict[str, Any] = {}
    start_memcached(vm, args=memcached_args, env=cfg.memcached_env)
    try:
        edge_ns = edge_busy_ns(vm)
        for etc, group in window_groups(loads):
            preload(vm, exe, etc)
            if not etc:
                idle = idle_run(vm, prof.idle, edge_ns)
                runs["idle"] = dataclasses.asdict(idle)
                log(f"    idle        {idle.busy_ns / idle.elapsed_ns:.4f} busy share")
            for load in group:
                run = measured_run(vm, exe, load, base_rps, prof.duration, prof.warmup,
                                   edge_ns)
                runs[load.name] = dataclasses.asdict(run)
                log(f"    {load.name:11s} {short(run)}")
    finally:
        stop_memcached(vm)
    return runs


def calibrate(vm: Guest, exe: str, prof: Profile, load: Load, memcached_args: str) -> float:
    """Vanilla's saturated rate in this boot (also warms the guest up; not reported)."""
    start_memcached(vm, args=memcached_args)
    try:
        preload(vm, exe, False)
        # Only the rate is used: no need to measure the edge reads' busy time.
        run = measured_run(vm, exe, load, 0, prof.duration, prof.warmup, 0)
    finally:
        stop_memcached(vm)
    if run.failed or not run.rate:
        raise RuntimeError("calibration run failed")
    log(f"calibration (vanilla, not reported): {short(run)}")
    return run.rate


def run_boot(vm: Guest, exe: str, prof: Profile, spec: BootSpec, configs: list[bc.Config],
             save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Every repetition of every configuration in this boot; `save` gets partial results."""
    loads = [ld for ld in LOADS if ld.name in prof.loads and ld.name in spec.loads]
    configs = [c for c in configs if spec.configs is None or c.name in spec.configs]
    usable = [c for c in configs if bc.available(vm, c)]
    boot: dict[str, Any] = {"about": spec.about, "vcpus": spec.vcpus, "queues": spec.queues,
                            "guest_args": spec.guest_args, "icount": vm.icount_option or None,
                            "memcached": memcached_command(args=spec.memcached_args),
                            "configs": [c.name for c in usable],
                            "skipped": [c.name for c in configs if c not in usable],
                            "window_order": window_sequence(loads),
                            "entries": [], "aborted": None}
    for c in configs:
        if c not in usable:
            log(f"skipping {c.name}: {c.requires} missing (another kernel flavour, or a guest "
                "built before it)")
    if spec.icount and vm.icount_shift is None:
        raise RuntimeError(f"-icount {vm.icount_option}: the cost is read as instructions, "
                           "which needs a fixed shift=N")
    neighbours.pin(vm)
    # The boot's first closed load (saturation), chosen or not: the open loads are its fractions.
    closed = next(ld for ld in LOADS if ld.closed and ld.name in spec.loads)
    boot["base_rps"] = calibrate(vm, exe, prof, closed, spec.memcached_args)
    for rep in range(prof.reps):
        order = usable[rep % len(usable):] + usable[:rep % len(usable)]
        for slot, cfg in enumerate(order):
            log(f"rep {rep + 1}/{prof.reps} slot {slot + 1} {cfg.name}")
            entry: dict[str, Any] = {"config": cfg.name, "rep": rep, "slot": slot}
            try:
                bc.set_up(vm, cfg)
                entry["runs"] = measure_config(vm, exe, cfg, prof, boot["base_rps"], loads,
                                               spec.memcached_args)
            except Exception as e:
                entry["error"] = f"{type(e).__name__}: {e}"[:3000]
                log(f"  FAILED: {entry['error'].splitlines()[0]}")
                if not vm.alive():
                    boot["entries"].append(entry)
                    raise
            finally:
                if vm.alive():
                    bc.tear_down(vm, cfg)
            boot["entries"].append(entry)
            save(boot)
    names = [c.name for c in usable]
    if prof.pairs and any(ld.name == PAIRED_LOAD for ld in loads) and all(
            n in names for n in prof.paired):
        boot["pairs"] = run_pairs(vm, exe, prof, spec)
        save(boot)
    return boot


def run_pairs(vm: Guest, exe: str, prof: Profile, spec: BootSpec) -> dict[str, Any]:
    """`prof.pairs` pairs of adjacent windows of the 1-connection load, one of each of
    `prof.paired` (vanilla and kpoll unless chosen), in one memcached that keeps running: each pair
    shares the host's state of the moment, so the ratio within a pair leaves out the drift
    between the repetitions above, which at this load is wider than the effect asked about.
    The order alternates (AB, BA, ...) so that a trend inside a pair favours neither."""
    load = next(ld for ld in LOADS if ld.name == PAIRED_LOAD)
    configs = [bc.by_name(n) for n in prof.paired]
    windows: list[dict[str, Any]] = []
    start_memcached(vm, args=spec.memcached_args)
    try:
        preload(vm, exe, False)
        for pair in range(prof.pairs):
            for cfg in configs if pair % 2 == 0 else configs[::-1]:
                bc.set_up(vm, cfg)
                try:
                    # Measured for every window: one measurement per configuration would
                    # subtract the same error from all its windows, a bias the pairs cannot see.
                    run = measured_run(vm, exe, load, 0, prof.duration, prof.warmup,
                                       edge_busy_ns(vm))
                finally:
                    bc.tear_down(vm, cfg)
                windows.append({"config": cfg.name, "pair": pair, "run": dataclasses.asdict(run)})
                log(f"pair {pair + 1}/{prof.pairs} {cfg.name:8s} {short(run)}")
    finally:
        stop_memcached(vm)
    return {"load": load.name, "configs": list(prof.paired), "windows": windows}
