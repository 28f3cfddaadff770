"""The benchmark's configurations: what each sets in the guest and how it is undone.

One definition per configuration; the report, the bench smoke test and the CLI's `--configs`
all use these names.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.guest_api import Guest
from harness.memcached import MEMCACHED_PORT

BUSY_POLL = ("/proc/sys/net/core/busy_poll", "/proc/sys/net/core/busy_read")
DEFER = "/sys/class/net/eth0/napi_defer_hard_irqs"
GRO_FLUSH = "/sys/class/net/eth0/gro_flush_timeout"
IRQ_SUSPEND = "/sys/class/net/eth0/irq_suspend_timeout"
KPOLL = "/proc/sys/net/kpoll"
KPOLL_MODULE = "/lib/kpoll/kpoll.ko"
# The same module built with `--cfg kpoll_no_rests` (scripts/build-guest.sh): it never returns
# a rest (src/hooks.rs), so every hook runs as before rests. Benchmark-only: what rests change,
# in the same boot.
KPOLL_NO_RESTS_MODULE = "/lib/kpoll/kpoll-no-rests.ko"
EPOLL_PARAMS_PRELOAD = "/usr/local/lib/epoll_params_preload.so"
DEFAULTS = {BUSY_POLL[0]: "0", BUSY_POLL[1]: "0", DEFER: "0", GRO_FLUSH: "0"}


@dataclass(frozen=True)
class Config:
    name: str
    writes: tuple[tuple[str, str], ...] = ()
    kpoll_watchdog_us: int | None = None
    # net.kpoll.ports once kpoll is loaded ("": nothing opted in)
    kpoll_ports: str = str(MEMCACHED_PORT)
    memcached_env: str = ""
    requires: str | None = None  # a guest path that must exist (kernel flavour feature)
    module: str = KPOLL_MODULE  # the kpoll.ko to load
    about: str = ""
    expect: dict[str, str] = field(default_factory=dict)

    @property
    def kpoll(self) -> bool:
        return self.kpoll_watchdog_us is not None

    def setup_script(self) -> list[str]:
        steps = [f"echo {v} > {p}" for p, v in self.writes]
        if self.kpoll:
            steps.append(f"insmod {self.module}")
            steps.append(f"echo {self.kpoll_watchdog_us} > {KPOLL}/watchdog_us")
            if self.kpoll_ports:
                steps.append(f"echo {self.kpoll_ports} > {KPOLL}/ports")
        return steps

    def expected(self) -> dict[str, str]:
        want = {p: v for p, v in self.writes}
        if self.kpoll:
            want.update({f"{KPOLL}/watchdog_us": str(self.kpoll_watchdog_us),
                         f"{KPOLL}/ports": self.kpoll_ports, f"{KPOLL}/enabled": "1"})
        return want

    def teardown_script(self) -> list[str]:
        steps = [f"echo 0 > {p}" for p, _ in self.writes]
        if self.kpoll:
            steps.append("rmmod kpoll")
        return steps


def _kpoll(name: str, watchdog_us: int, about: str, ports: str = str(MEMCACHED_PORT),
           module: str = KPOLL_MODULE) -> Config:
    return Config(name, kpoll_watchdog_us=watchdog_us, kpoll_ports=ports, about=about,
                  module=module, requires=None if module == KPOLL_MODULE else module)


# kpoll loaded with no socket opted in: what every other epoll user pays for the hooks (cpu
# boot only; nothing user-visible changes).
NO_OPT_IN = "kpoll no opt-in"
# kpoll without rests (cpu boot only): what rests save at low load and cost under load.
NO_RESTS = "kpoll no rests"


CONFIGS: tuple[Config, ...] = (
    Config("vanilla", about="Linux 6.12 as it is"),
    Config("busy_poll=50", writes=((BUSY_POLL[0], "50"), (BUSY_POLL[1], "50")),
           about="net.core.busy_poll = busy_read = 50 µs"),
    Config("deferral", writes=((DEFER, "100"), (GRO_FLUSH, "50000")),
           about="napi_defer_hard_irqs 100, gro_flush_timeout 50 µs"),
    Config("upstream 6.13 semantics",
           writes=((DEFER, "100"), (GRO_FLUSH, "50000"), (IRQ_SUSPEND, "20000000")),
           memcached_env=f"LD_PRELOAD={EPOLL_PARAMS_PRELOAD}", requires=IRQ_SUSPEND,
           about="IRQ suspension re-implemented on 6.12 (benchmark kernel only): "
                 "irq_suspend_timeout 20 ms, defer 100, gro_flush_timeout 50 µs, "
                 "prefer_busy_poll set on memcached's epolls by an LD_PRELOAD library"),
    _kpoll("kpoll", 50_000, "adaptive deadline, watchdog_us 50 ms (default)"),
    _kpoll("kpoll wd=2ms", 2_000, "adaptive deadline, watchdog_us 2 ms"),
    _kpoll("kpoll wd=10ms", 10_000, "adaptive deadline, watchdog_us 10 ms (the earlier default)"),
    _kpoll(NO_OPT_IN, 50_000, "kpoll.ko loaded, net.kpoll.ports empty: every hook runs and "
           "finds no opted-in socket", ports=""),
    _kpoll(NO_RESTS, 50_000, "as kpoll, with a kpoll.ko built never to rest an epoll (every "
           "hook runs at every return; benchmark-only build)", module=KPOLL_NO_RESTS_MODULE),
)


def by_name(name: str) -> Config:
    for c in CONFIGS:
        if c.name == name:
            return c
    raise KeyError(name)


def read_values(vm: Guest, paths: list[str]) -> dict[str, str]:
    out = vm.check("for f in " + " ".join(paths) + "; do echo \"$f=$(cat $f)\"; done")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def available(vm: Guest, cfg: Config) -> bool:
    return cfg.requires is None or vm.run(f"test -e {cfg.requires}")[0] == 0


def verify_defaults(vm: Guest) -> None:
    vals = read_values(vm, list(DEFAULTS))
    bad = {k: v for k, v in vals.items() if v.strip() != DEFAULTS[k]}
    loaded = vm.run("grep -q '^kpoll ' /proc/modules")[0] == 0
    if bad or loaded:
        raise RuntimeError(f"guest not at defaults: {bad}, kpoll loaded: {loaded}")


def set_up(vm: Guest, cfg: Config) -> None:
    verify_defaults(vm)
    for step in cfg.setup_script():
        vm.check(step)
    want = cfg.expected()
    if want:
        got = read_values(vm, list(want))
        bad = {k: (got.get(k, "").strip(), v) for k, v in want.items()
               if got.get(k, "").strip() != v}
        if bad:
            raise RuntimeError(f"{cfg.name}: settings did not take effect (got, want): {bad}")


def tear_down(vm: Guest, cfg: Config) -> None:
    for step in cfg.teardown_script():
        vm.run(step)
    verify_defaults(vm)
