"""report.md from the benchmark's results.json: targets first, then what a user feels (rate and
latency in wall-clock time), then the cost (guest instructions per request under icount), each
as the median with the range of the repetitions and a verdict from an exact rank-sum test
(see harness.stats)."""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from typing import Any

from harness.bench_configs import NO_OPT_IN
from harness.bench_run import CPU_MQ_BOOTS, NO_TX_IRQ_ARGS, NO_TX_IRQ_BOOTS, WALL_MQ_BOOTS
from harness.load_run import instructions
from harness.stats import (
    Spread,
    compare,
    fmt_range,
    median_interval,
    not_worse,
    paired_verdict,
    signed_rank_p,
)
from harness.vm import ICOUNT_DEFAULT, icount_shift

Metric = Callable[[dict[str, Any]], "float | None"]

LOAD_TITLES = {
    "sat": "saturation (closed loop, 16 connections)",
    "low": "low load (closed loop, 1 connection)",
    "open10": "open loop at 10 % of vanilla's saturation (16 connections, Poisson)",
    "open30": "open loop at 30 % of vanilla's saturation (16 connections, Poisson)",
    "depth4": "pinned batching (closed loop, 4 connections × pipeline depth 4)",
    "sat_etc": "saturation, Facebook ETC key and value sizes",
    "open30_etc": "open loop at 30 %, Facebook ETC sizes and inter-arrivals",
    "sat32": "saturation (closed loop, 32 connections)",
    "open30_32": "open loop at 30 % (32 connections, Poisson)",
    "idle": "idle (no load)",
}
LOW_LOADS = ("low", "open10", "open30")
FIXED_LOADS = ("open10", "open30", "depth4")
VERDICT_WORDS = {"better": "better", "worse": "**worse**", "tie": "tie", None: "–"}


def fmt_percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f} %"


def rate(r: dict[str, Any]) -> float | None:
    return None if r.get("failed") else r.get("rate")


def p50(r: dict[str, Any]) -> float | None:
    return None if r.get("failed") else r.get("p50_us")


def p99(r: dict[str, Any]) -> float | None:
    return None if r.get("failed") else r.get("p99_us")


def cost(r: dict[str, Any]) -> float | None:
    """Guest instructions per request: busy ns over 2^shift (icount; result sets from before the
    shift was recorded ran shift=0)."""
    if not r.get("requests"):
        return None
    return instructions(float(r["busy_ns"]), int(r.get("icount_shift") or 0)) / float(r["requests"])


def irqs(r: dict[str, Any]) -> float | None:
    return r["rx_irqs"] / r["requests"] if r.get("requests") else None


def tx_irqs(r: dict[str, Any]) -> float | None:
    """None for result sets made before the bench counted TX IRQs."""
    return r["tx_irqs"] / r["requests"] if r.get("requests") and "tx_irqs" in r else None


def edge_share(r: dict[str, Any]) -> float | None:
    """How far the request count can be off: half the requests served while the opening's busy
    time was read (harness.load_run.read_window_edge), as a share of the run's requests. None
    for result sets made before the count was read with the busy time."""
    if not r.get("requests") or "edge_requests" not in r:
        return None
    return float(r["edge_requests"]) / 2 / float(r["requests"])


def busy_us(r: dict[str, Any]) -> float | None:
    return r["busy_ns"] / r["requests"] / 1000 if r.get("requests") else None


def guest_rate(r: dict[str, Any]) -> float | None:
    """Requests per second of guest time (under icount: as the guest saw the load)."""
    return r["requests"] / r["elapsed_ns"] * 1e9 if r.get("elapsed_ns") else None


def qemu_us(r: dict[str, Any]) -> float | None:
    """Host CPU time QEMU spent per request (µs): what the run cost the host, emulated
    interrupts and device exits included, which guest instruction counts leave out."""
    return r["qemu_cpu_s"] / r["requests"] * 1e6 if r.get("requests") else None


def host_cores(r: dict[str, Any]) -> float | None:
    """Host cores kept busy by QEMU and the load generator during the run (of 2 here)."""
    wall = r.get("wall_s")
    return (r["qemu_cpu_s"] + r["loadgen_cpu_s"]) / wall if wall else None


def idle_share(r: dict[str, Any]) -> float | None:
    return r["busy_ns"] / r["elapsed_ns"] if r.get("elapsed_ns") else None


def spread(boot: dict[str, Any] | None, config: str, load: str, metric: Metric) -> Spread:
    if not boot:
        return Spread(())
    return Spread.of(metric(e["runs"][load]) for e in boot["entries"]
                     if e["config"] == config and load in e.get("runs", {}))


def paired_metrics(boot_name: str) -> tuple[tuple[str, Metric, bool], ...]:
    """What the paired low-load windows compare: (label, metric, higher is better)."""
    if boot_name in ("cpu", "cpu_notx"):
        return (("instructions/request", cost, False),)
    return (("requests/s", rate, True), ("p50", p50, False), ("p99", p99, False),
            ("QEMU host CPU/request", qemu_us, False))


def pair_log_ratios(pairs: dict[str, Any], metric: Metric) -> list[float]:
    """log(candidate / base) of `metric` within each pair of adjacent windows."""
    by_pair: dict[int, dict[str, float | None]] = {}
    for w in pairs["windows"]:
        by_pair.setdefault(w["pair"], {})[w["config"]] = metric(w["run"])
    base, other = pairs["configs"]
    ratios = []
    for values in by_pair.values():
        a, b = values.get(other), values.get(base)
        if a and b and a > 0 and b > 0:
            ratios.append(math.log(a / b))
    return ratios


def paired_cell(logs: list[float], higher_is_better: bool) -> tuple[str, str | None]:
    """`median× [interval]` of the pair ratios and the verdict word (None: too few pairs)."""
    if not logs:
        return "–", None
    mid = math.exp(statistics.median(logs))
    band = median_interval(logs)
    shown = f"{mid:.3f}×" + ("" if band is None else
                             f" [{math.exp(band[0]):.3f}–{math.exp(band[1]):.3f}]")
    return shown, paired_verdict(logs, higher_is_better)


def icount_prose(option: str) -> str:
    """What the cpu boot's `-icount option` makes of its numbers (result sets from before the
    option was recorded ran the default)."""
    shift = icount_shift(option) or 0
    per = "one nanosecond" if shift == 0 else f"2^{shift} = {1 << shift} ns"
    count = ("per request is" if shift == 0 else
             f"per request, divided by {1 << shift}, is")
    text = (f"The *cpu* boot runs QEMU with `-icount {option}`: guest time advances {per} per "
            "executed instruction while the vCPU runs, so guest busy time (`now − Σ "
            "idle_sleeptime` from `/proc/timer_list`, NO_HZ idle accounting, not tick samples) "
            f"{count} **guest instructions per request**, whatever the host is doing. ")
    if "align=on" in option.split(","):
        return text + (f"The guest runs at {1000 / (1 << shift):.0f} MHz of guest time and "
                       "QEMU sleeps whenever its clock runs ahead of the host's (`align=on`), so "
                       "where TCG keeps up the guest sees the load at the host's pace; where it "
                       "does not, the clock falls behind (the column \"requests per guest "
                       "second\"). A 1 ms stretch is "
                       f"{1_000_000 >> shift} instructions, so its rates and latencies are "
                       "not reported as user-facing.")
    return text + ("icount also slows the guest's clock while it is busy, so timers (the "
                   "watchdog, the service polls, deferral) fire after more instructions than in "
                   "wall-clock time; its rates and latencies are not reported as user-facing.")


def window_order_prose(boots: dict[str, Any]) -> str:
    """The order of the windows in each configuration's memcached, as the boots recorded it
    (result sets from before it was recorded: nothing said, saturation ran first)."""
    orders = {name: b["window_order"] for name, b in boots.items() if b.get("window_order")}
    if not orders:
        return ""
    seqs = list(dict.fromkeys(" → ".join(o) for o in orders.values()))
    where = ("" if len(seqs) == 1 else
             " (" + "; ".join(f"{name}: {' → '.join(o)}" for name, o in orders.items()) + ")")
    return (f" Windows in each memcached: {seqs[0] if len(seqs) == 1 else 'by boot'}{where}: "
            "open loops first, then closed loops by the requests they keep in flight, so "
            "that no window is charged memcached's deferred work (LRU maintenance) for a "
            "faster configuration's extra requests in a closed loop before it.")


def mq_cost_label(boot: dict[str, Any]) -> str:
    """The several-queue icount boots' cost: busy time of both vCPUs, in icount ns at shift 0
    (one per instruction), otherwise divided by 2^shift like `cost`."""
    return "CPU ns/request (icount)" if boot_shift(boot) == 0 else mq_cost_name(boot)


def mq_cost_name(boot: dict[str, Any]) -> str:
    """mq_cost_label() in the targets' words."""
    if boot_shift(boot) == 0:
        return "CPU ns/request"
    return "CPU time/request in instructions (busy ns / 2^shift)"


def boot_icount(boot: dict[str, Any] | None) -> str:
    """The -icount option a boot ran with (result sets from before it was recorded: the
    default)."""
    return (boot or {}).get("icount") or ICOUNT_DEFAULT


def boot_shift(boot: dict[str, Any]) -> int:
    """The icount shift a boot ran with."""
    return icount_shift(boot_icount(boot)) or 0


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def not_worse_row(label: str, a: Spread, b: Spread, higher_is_better: bool) -> list[str]:
    """A target row: `a` no worse than `b` within the spread, with the ratio of medians."""
    return [label, f"{a.ratio(b) or 0:.3f}× ({VERDICT_WORDS[compare(a, b, higher_is_better)]})",
            verdict(not_worse(a, b, higher_is_better))]


def repeatability_row(boot_name: str, boot: dict[str, Any] | None) -> list[str]:
    """Worst disagreement of kpoll's and vanilla's instructions per request between repetitions
    at the loads whose offered load is fixed (and saturation), two ways, as issue 11 allows:
    max/min − 1, with how far apart the same repetitions' offered loads were as the guest saw
    them (`guest_rate`: the host, not kpoll, moves that one), and, when every cell has the 6
    repetitions it takes, hi/lo − 1 of the 95 % interval of the median. Met when either is
    ≤ 3 %."""
    worst, where, seen = 0.0, "", ""
    worst_median: float | None = 0.0
    median_where, reps = "", 0
    for c in ("kpoll", "vanilla"):
        for load in FIXED_LOADS + ("sat",):
            s = spread(boot, c, load, cost)
            rel = s.relative
            if rel is None:
                continue
            if rel > worst:
                rate = spread(boot, c, load, guest_rate).relative
                worst, where = rel, f"{c}, {load}"
                seen = "" if rate is None else f"; its guest-time load {rate * 100:.0f} % apart"
            mid = s.median_relative
            reps = s.n if not reps else min(reps, s.n)
            if mid is None or worst_median is None:
                worst_median = None
            elif mid >= worst_median:
                worst_median, median_where = mid, f"{c}, {load}"
    text = f"max/min − 1 {worst * 100:.1f} % ({where}{seen})"
    if where:
        text += ("; 95 % interval of the median: needs ≥ 6 repetitions" if worst_median is None
                 else f"; 95 % interval of the median {worst_median * 100:.1f} % "
                 f"({median_where}; ≥ {reps} repetitions)")
    ok = None if not where else (worst <= 0.03 or (worst_median is not None
                                                   and worst_median <= 0.03))
    return [(f"{boot_name}: instructions/request repeatable to ≤ 3 % (worst of kpoll and vanilla "
             "at sat, open10, open30, depth4: max/min − 1, or hi/lo − 1 of the 95 % interval "
             "of the median)"), text, verdict(ok)]


class Report:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.cpu = data["boots"].get("cpu")
        self.wall = data["boots"].get("wall")
        self.lines: list[str] = []
        others = [b for name, b in data["boots"].items() if name not in ("cpu", "wall")]
        names = [n for b in (self.wall, self.cpu, *others) if b for n in b["configs"]]
        self.configs = list(dict.fromkeys(names))

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, head: list[str], rows: list[list[str]]) -> None:
        self.add("| " + " | ".join(head) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
        for row in rows:
            self.add("| " + " | ".join(row) + " |")
        self.add("")

    def cell(self, boot: dict[str, Any] | None, config: str, load: str, metric: Metric,
             fmt: str, higher_is_better: bool) -> str:
        s = spread(boot, config, load, metric)
        text = fmt_range(s, fmt)
        if config != "vanilla" and s.n:
            base = spread(boot, "vanilla", load, metric)
            ratio = s.ratio(base)
            if ratio is not None:
                text += f" {ratio:.2f}× {VERDICT_WORDS[compare(s, base, higher_is_better)]}"
        return text

    # ---- sections --------------------------------------------------------------------------

    def header(self) -> None:
        d, env = self.data, self.data.get("environment", {})
        prof = d["profile"]
        self.add("# kpoll benchmark results", "",
                 f"Mode `{d['mode']}`: {prof['reps']} repetitions of every configuration in each "
                 f"of {len(d['boots'])} guest boots of the same kernel "
                 f"({', '.join(d['boots'])}), {prof['duration']} s per load run "
                 f"({prof['warmup']} s warm-up); {d.get('elapsed_s', 0):.0f} s in all.", "")
        vcpus: dict[int, list[str]] = {}
        for name, boot in d["boots"].items():
            vcpus.setdefault(int(boot.get("vcpus", 1)), []).append(name)
        shown = ", ".join(f"{n} vCPU{'s' if n > 1 else ''}"
                          + (f" ({', '.join(names)})" if len(vcpus) > 1 else "")
                          for n, names in sorted(vcpus.items()))
        self.add(f"- Environment: {env.get('qemu')}, TCG, {shown}, guest kernel "
                 f"{env.get('guest_kernel')} (`{env.get('flavour')}` flavour), host "
                 f"`nproc` = {env.get('host_nproc')} ({env.get('host_cpu')}), {env.get('date')}, "
                 f"commit {env.get('git_commit')}.")
        la0, la1 = d.get("host_loadavg_start"), d.get("host_loadavg_end")
        if la0 and la1:
            self.add(f"- Host load average (1 min): {la0[0]:.2f} before, {la1[0]:.2f} after "
                     "(QEMU and the load generator account for up to ~2).")
        if 1 in vcpus:
            self.add("- **Two boots.** The *wall* boot runs QEMU as usual: its request rates "
                     "and latencies are what a user of this machine would see. " + icount_prose(
                         boot_icount(self.cpu)))
        cpu_base = self.cpu.get("base_rps") if self.cpu else None
        wall_base = self.wall.get("base_rps") if self.wall else None
        measured = [(name, base) for name, base in (("wall", wall_base), ("cpu", cpu_base)) if base]
        bases = [f"{base:.0f}{' requests/s' if i == 0 else ''} in the {name} boot"
                 for i, (name, base) in enumerate(measured)]
        if bases:
            self.add("- Open-loop rates are fractions of vanilla's saturated rate measured at the "
                     "start of each boot (not reported): " + ", ".join(bases) + ".")
        threads = ", ".join(f"`-t {n}`" + (f" with {n} vCPU{'s' if n > 1 else ''}"
                                           if len(vcpus) > 1 else "") for n in sorted(vcpus))
        self.add("- Configuration order rotates by one slot per repetition; memcached "
                 f"({threads}) is restarted for every configuration and its keys preloaded."
                 + window_order_prose(self.data["boots"]))
        self.add("- Each cell: median [min–max] over the repetitions, the ratio of medians to "
                 "vanilla, and a verdict: *better* or *worse* only when the exact two-sided "
                 "rank-sum (Mann-Whitney) test puts the difference at p < 1 %, otherwise *tie* "
                 "(with 5 repetitions each: only when the ranges do not overlap; repetitions too "
                 "few to ever reach 1 % get no verdict).",
                 "- Load: kpoll-loadgen on the host (network namespace, tap), 90 % gets over "
                 "10 000 keys, 64-byte values unless marked ETC (mutilate's Facebook `fb_key`, "
                 "`fb_value`, `fb_ia`).", "")
        about = d.get("about", {})
        self.table(["configuration", "what it sets"],
                   [[n, about.get(n, "")] for n in self.configs])
        for boot_name, boot in d["boots"].items():
            if boot.get("aborted"):
                self.add(f"> **The {boot_name} boot was aborted:** `{boot['aborted']}`", "")
            for e in boot["entries"]:
                if e.get("error"):
                    self.add(f"> **{boot_name}: {e['config']} rep {e['rep'] + 1} failed:** "
                             f"`{e['error'].splitlines()[0]}`", "")
            if boot.get("skipped"):
                self.add(f"> {boot_name} boot: not run on this kernel: "
                         + ", ".join(boot["skipped"]), "")

    def targets(self) -> None:
        rows = self.main_targets() if self.cpu or self.wall else self.multi_queue_targets()
        rows += self.no_tx_irq_targets()
        rows += self.paired_targets()
        if rows:
            self.add("## Targets (kpoll, default watchdog, vs vanilla)", "")
            self.table(["target", "measured", "verdict"], rows)

    def paired_boots(self) -> Iterator[tuple[str, dict[str, Any], int, str, str]]:
        """Each boot with paired windows: name, its pairs, how many, base and candidate."""
        for boot_name, boot in self.data["boots"].items():
            pairs = boot.get("pairs")
            if pairs:
                base, other = pairs["configs"]
                yield boot_name, pairs, len({w["pair"] for w in pairs["windows"]}), base, other

    def paired_targets(self) -> list[list[str]]:
        """The low-load targets again, decided on the paired windows."""
        rows: list[list[str]] = []
        for boot_name, pairs, _, base, other in self.paired_boots():
            for label, metric, hib in paired_metrics(boot_name):
                logs = pair_log_ratios(pairs, metric)
                shown, word = paired_cell(logs, hib)
                rows.append([(f"{boot_name}: low, {len(logs)} pairs: {other}'s {label} ≤ 1.00× "
                              f"{base} (median of the pair ratios [95 % interval])"),
                             f"{shown} ({VERDICT_WORDS[word]})",
                             verdict(None if word is None else word != "worse")])
        return rows

    def paired_view(self) -> None:
        for boot_name, pairs, n, base, other in self.paired_boots():
            self.add(f"## Low load in pairs ({boot_name} boot)", "",
                     f"{n} pairs of adjacent windows of the {LOAD_TITLES[pairs['load']]}, "
                     f"{base} and {other} alternating in one memcached, the order reversed "
                     "every other pair. Each pair's ratio leaves out the host's drift between "
                     "windows further apart. The ratio is the median of the pairs' "
                     f"{other} / {base} (taken on their logarithms: with an even number of "
                     "pairs, the geometric mean of the middle two) with a distribution-free "
                     "95 % interval for it (order statistics); the verdict is the exact "
                     "two-sided Wilcoxon signed-rank test on the pairs' log ratios at p < 1 %, "
                     "so an interval that leaves out 1.000 can still be a tie.", "")
            rows = []
            for label, metric, hib in paired_metrics(boot_name):
                logs = pair_log_ratios(pairs, metric)
                shown, word = paired_cell(logs, hib)
                medians = [Spread.of(metric(w["run"]) for w in pairs["windows"]
                                     if w["config"] == c).median for c in pairs["configs"]]
                rows.append([label, *("–" if m is None else f"{m:.1f}" if m < 100 else
                                      f"{m:.0f}" for m in medians), shown,
                             f"{signed_rank_p(logs):.3f}" if logs else "–",
                             VERDICT_WORDS[word]])
            self.table(["metric", *(f"{c} (median)" for c in pairs["configs"]),
                        f"{other} / {base}", "p", "verdict"], rows)

    def no_tx_irq_targets(self) -> list[list[str]]:
        """Repeatability and the low-load cost where virtio's TX IRQs do not blur them."""
        rows: list[list[str]] = []
        boot = self.data["boots"].get(NO_TX_IRQ_BOOTS[0])
        if not boot:
            return rows
        rows.append(repeatability_row(NO_TX_IRQ_BOOTS[0], boot))
        for load in LOW_LOADS:
            a, b = spread(boot, "kpoll", load, cost), spread(boot, "vanilla", load, cost)
            if a.n:
                rows.append(not_worse_row(f"{NO_TX_IRQ_BOOTS[0]}: {load}: instructions/request "
                                          "≤ 1.00× vanilla within the spread", a, b, False))
        return rows

    def main_targets(self) -> list[list[str]]:
        rows: list[list[str]] = []
        kp, van = "kpoll", "vanilla"
        s_k, s_v = (spread(self.wall, c, "sat", rate) for c in (kp, van))
        r = s_k.ratio(s_v)
        if r is not None:
            shown = f"{r:.2f}× ({fmt_range(s_k, '{:.0f}')} vs {fmt_range(s_v, '{:.0f}')})"
            rows.append(["saturation ≥ 1.45× vanilla (rate)", shown, verdict(r >= 1.45)])
        up = "upstream 6.13 semantics"
        s_u = spread(self.wall, up, "sat", rate)
        if s_u.n:
            r = s_k.ratio(s_u)
            rows.append(["saturation ≥ 1.10× upstream semantics", f"{r or 0:.2f}×",
                         verdict(None if r is None else r >= 1.10)])
        s = spread(self.cpu, kp, "sat", irqs)
        if s.median is not None:
            rows.append(["RX IRQs/request at saturation ≤ 0.01", fmt_range(s, "{:.4f}"),
                         verdict(s.median <= 0.01)])
        for load in LOW_LOADS:
            for label, boot, metric, hib in (("rate", self.wall, rate, True),
                                              ("p50", self.wall, p50, False),
                                              ("p99", self.wall, p99, False),
                                              ("instructions/request", self.cpu, cost, False)):
                a, b = spread(boot, kp, load, metric), spread(boot, van, load, metric)
                if a.n and b.n:  # a boot not run measures nothing
                    rows.append(not_worse_row(f"{load}: {label} ≤ 1.00× vanilla within the "
                                              "spread", a, b, hib))
        for load in LOW_LOADS + ("sat",):
            a, b = spread(self.cpu, NO_OPT_IN, load, cost), spread(self.cpu, van, load, cost)
            if a.n:
                rows.append(not_worse_row(f"{load}: instructions/request with kpoll loaded and "
                                          "nothing opted in ≤ 1.00× vanilla within the spread "
                                          "(what other applications pay)", a, b, False))
        if any(spread(self.cpu, "vanilla", load, cost).n for load in FIXED_LOADS + ("sat",)):
            rows.append(repeatability_row("cpu", self.cpu))
        a, b = spread(self.cpu, kp, "sat", cost), spread(self.cpu, van, "sat", cost)
        r = a.ratio(b)
        if r is not None:
            rows.append(["instructions/request at saturation ≤ 0.85× vanilla", f"{r:.3f}×",
                         verdict(r <= 0.85)])
        rows += self.multi_queue_targets()
        a, b = spread(self.cpu, kp, "idle", idle_share), spread(self.cpu, van, "idle", idle_share)
        if a.n and b.n:
            rows.append(["idle: no extra guest CPU (busy share within vanilla's spread)",
                         f"{fmt_range(a, '{:.5f}')} vs {fmt_range(b, '{:.5f}')}",
                         verdict(not_worse(a, b, False))])
        return rows

    def multi_queue_targets(self) -> list[list[str]]:
        """2 vCPUs × 2 queues: rate ≥ 1.3× vanilla and ≥ upstream semantics, cost ≤ vanilla."""
        rows: list[list[str]] = []
        kp, van, up = "kpoll", "vanilla", "upstream 6.13 semantics"
        for boot_name in CPU_MQ_BOOTS:
            boot = self.data["boots"].get(boot_name)
            if not boot:
                continue
            for load in ("sat32", "open30_32"):
                a, b = spread(boot, kp, load, cost), spread(boot, van, load, cost)
                r = a.ratio(b)
                rows.append([f"{boot_name}: {load} icount {mq_cost_name(boot)} ≤ vanilla",
                             (f"{r or 0:.3f}× ({VERDICT_WORDS[compare(a, b, False)]}), spread "
                              f"{(a.relative or 0) * 100:.1f} % / "
                              f"{(b.relative or 0) * 100:.1f} %"),
                             verdict(not_worse(a, b, False))])
            a, b = spread(boot, kp, "sat32", rate), spread(boot, van, "sat32", rate)
            r = a.ratio(b)
            rows.append([f"{boot_name}: sat32 rate ≥ 1.3× vanilla (emulation speed, server-bound)",
                         f"{r or 0:.2f}× ({VERDICT_WORDS[compare(a, b, True)]})",
                         verdict(None if r is None else r >= 1.3)])
            a, b = spread(boot, kp, "sat32", cost), spread(boot, up, "sat32", cost)
            if b.n:
                rows.append(not_worse_row(
                    f"{boot_name}: sat32 icount {mq_cost_name(boot)} ≤ upstream semantics",
                    a, b, False))
                a, b = spread(boot, kp, "sat32", rate), spread(boot, up, "sat32", rate)
                r = a.ratio(b)
                rows.append([f"{boot_name}: sat32 rate ≥ upstream semantics (emulation speed)",
                             f"{r or 0:.2f}× ({VERDICT_WORDS[compare(a, b, True)]})",
                             verdict(not_worse(a, b, True))])
        for boot_name in WALL_MQ_BOOTS:
            boot = self.data["boots"].get(boot_name)
            if not boot:
                continue
            s_k, s_v, s_u = (spread(boot, c, "sat32", rate) for c in (kp, van, up))
            r = s_k.ratio(s_v)
            rows.append([f"{boot_name}: 2 vCPUs × 2 queues, rate ≥ 1.3× vanilla",
                         f"{r or 0:.2f}× ({VERDICT_WORDS[compare(s_k, s_v, True)]})",
                         verdict(None if r is None else r >= 1.3)])
            if s_u.n:
                r = s_k.ratio(s_u)
                rows.append([f"{boot_name}: rate ≥ upstream semantics",
                             f"{r or 0:.2f}× ({VERDICT_WORDS[compare(s_k, s_u, True)]})",
                             verdict(not_worse(s_k, s_u, True))])
        return rows

    def user_view(self) -> None:
        if not self.wall:
            return
        self.add("## What a user sees (wall boot)", "")
        for load in [ld for ld in LOAD_TITLES if ld not in ("idle", "depth4")]:
            if not spread(self.wall, "vanilla", load, rate).n:
                continue
            self.add(f"### {LOAD_TITLES[load]}", "")
            rows = [[c, self.cell(self.wall, c, load, rate, "{:.0f}", True),
                     self.cell(self.wall, c, load, p50, "{:.0f}", False),
                     self.cell(self.wall, c, load, p99, "{:.0f}", False),
                     self.cell(self.wall, c, load, qemu_us, "{:.1f}", False)]
                    for c in self.wall["configs"]]
            self.table(["config", "requests/s", "p50 µs", "p99 µs",
                        "QEMU host CPU µs/request"], rows)
        self.add("The last column is the host CPU time QEMU used per request: the emulation's "
                 "cost, in which an interrupt weighs far more than its guest instructions. It "
                 "moves with whatever else the host runs, like the rate.", "")

    def cost_view(self) -> None:
        if not self.cpu:
            return
        self.add("## Cost (cpu boot, guest instructions per request)", "")
        for load in [ld for ld in LOAD_TITLES if ld != "idle"]:
            if not spread(self.cpu, "vanilla", load, cost).n:
                continue
            self.add(f"### {LOAD_TITLES[load]}", "")
            rows = []
            for c in self.cpu["configs"]:
                cell = spread(self.cpu, c, load, cost)
                rows.append([c, self.cell(self.cpu, c, load, cost, "{:.0f}", False),
                             fmt_percent(cell.relative), fmt_percent(cell.median_relative),
                             self.cell(self.cpu, c, load, irqs, "{:.3f}", False),
                             fmt_range(spread(self.cpu, c, load, tx_irqs), "{:.3f}"),
                             fmt_range(spread(self.cpu, c, load, guest_rate), "{:.0f}"),
                             fmt_percent(spread(self.cpu, c, load, edge_share).median)])
            self.table(["config", "instructions/request", "spread", "median's 95 % interval",
                        "RX IRQs/request", "TX IRQs/request", "requests per guest second",
                        "count ± at the edge"],
                       rows)
        self.add("*spread* is max/min − 1 of the repetitions; *median's 95 % interval* is "
                 "hi/lo − 1 of the distribution-free interval that holds the median with 95 % "
                 "confidence (harness/stats.py median_interval; – below 6 repetitions, the "
                 "whole range up to 8, narrower from 9: the 2nd to 8th of 9, the 3rd to 10th of "
                 "12). Either ≤ 3 % meets the repeatability target.", "")
        self.add("The last column but one is the offered load as the guest saw it. The load "
                 "generator keeps host time; the guest clock falls behind the host's by however "
                 "long the host took to emulate the busy stretches, so when the host runs slower "
                 "the same host-timed load arrives faster in guest time, batches more and costs "
                 "fewer instructions per request. Where that column varies, so does the cost: "
                 "that spread is the host's, not kpoll's. The last column is how far the "
                 "request count can be off (median): memcached's count is read just before and "
                 "just after the window's opening busy-time read and averaged, and half the "
                 "requests served in between may belong outside the window (– : a result set "
                 "from before, whose count was read before the busy time and ran 2-6 % high). "
                 "The edge reads' own instructions inside the window (about 15 million) are "
                 "taken out of every cell (harness/load_run.py), except in result sets from "
                 "before that column.",
                 "")
        self.add("### idle (no load): guest busy share", "")
        self.table(["config", "busy share"],
                   [[c, self.cell(self.cpu, c, "idle", idle_share, "{:.5f}", False)]
                    for c in self.cpu["configs"]])

    def multi_queue(self) -> None:
        for boot_name in WALL_MQ_BOOTS + CPU_MQ_BOOTS:
            boot = self.data["boots"].get(boot_name)
            if not boot:
                continue
            icount = boot_name in CPU_MQ_BOOTS
            self.add(f"## Several queues ({boot_name} boot: {boot.get('about', '')})", "")
            if icount:
                self.add("Rates and latencies here are emulation speed (one host thread runs "
                         "both vCPUs in turn), not what a user sees. The cost column is busy "
                         "time summed over both vCPUs in icount time, where a nanosecond"
                         + (" is one" if boot_shift(boot) == 0 else
                            f" divided by {1 << boot_shift(boot)} is one")
                         + " instruction executed by either vCPU: a stretch in which both are busy "
                         "counts twice. It is a repeatable CPU-time cost, not an instruction "
                         "count.", "")
            for load in ("sat32", "open30_32"):
                if not spread(boot, "vanilla", load, rate).n:
                    continue
                self.add(f"### {LOAD_TITLES[load]}", "")
                rows = [[c, self.cell(boot, c, load, rate, "{:.0f}", True),
                         self.cell(boot, c, load, p50, "{:.0f}", False),
                         self.cell(boot, c, load, p99, "{:.0f}", False),
                         self.cell(boot, c, load, irqs, "{:.3f}", False),
                         self.cell(boot, c, load, cost if icount else busy_us,
                                   "{:.0f}" if icount else "{:.1f}", False),
                         fmt_range(spread(boot, c, load, host_cores), "{:.2f}")]
                        for c in boot["configs"]]
                self.table(["config", "requests/s", "p50 µs", "p99 µs", "RX IRQs/request",
                            mq_cost_label(boot) if icount else "busy µs/request (wall clock)",
                            "host cores busy (QEMU + load generator)"], rows)

    def tx_irqs_at_saturation(self) -> str:
        """The cpu boot's TX IRQs per request at saturation, per configuration, as a clause."""
        boot = self.data["boots"].get("cpu")
        if not boot:
            return ""
        medians = [(c, spread(boot, c, "sat", tx_irqs).median) for c in boot["configs"]]
        shown = ", ".join(f"{c} {m:.3f}" for c, m in medians if m is not None)
        return f" (per request at saturation in the cpu boot: {shown})" if shown else ""

    def no_tx_irqs(self) -> None:
        cpu, wall = (self.data["boots"].get(name) for name in NO_TX_IRQ_BOOTS)
        if not cpu and not wall:
            return
        self.add("## Without TX-completion interrupts (cpu_notx and wall_notx boots)", "",
                 f"The same guest booted with `{NO_TX_IRQ_ARGS}`. virtio-net raises a "
                 "TX-completion IRQ on a vector of its own, re-armed at every transmit"
                 f"{self.tx_irqs_at_saturation()}. With "
                 "`napi_tx=0` the driver reaps transmitted buffers at the next transmit and "
                 "raises no TX IRQ, so the receive IRQ that kpoll masks is the queue's only "
                 "one, as on NICs whose queue pair shares one IRQ. Instructions per request "
                 "come from the icount boot (cpu_notx), rates and latencies from the wall-clock "
                 "boot (wall_notx).", "")
        configs = list(dict.fromkeys(n for b in (cpu, wall) if b for n in b["configs"]))
        for load in [ld for ld in LOAD_TITLES if ld != "idle"]:
            if not (spread(cpu, "vanilla", load, cost).n or spread(wall, "vanilla", load, rate).n):
                continue
            self.add(f"### {LOAD_TITLES[load]}", "")
            rows = [[c, self.cell(cpu, c, load, cost, "{:.0f}", False),
                     self.cell(cpu, c, load, irqs, "{:.3f}", False),
                     self.cell(wall, c, load, rate, "{:.0f}", True),
                     self.cell(wall, c, load, p50, "{:.0f}", False),
                     self.cell(wall, c, load, p99, "{:.0f}", False)] for c in configs]
            self.table(["config", "instructions/request", "RX IRQs/request", "requests/s",
                        "p50 µs", "p99 µs"], rows)

    def counters(self) -> None:
        boot = self.cpu
        if not boot:
            return
        totals: dict[str, dict[str, int]] = {}
        for e in boot["entries"]:
            for run in e.get("runs", {}).values():
                for k, v in run.get("kpoll", {}).items():
                    totals.setdefault(e["config"], {}).setdefault(k, 0)
                    totals[e["config"]][k] += v
        if not totals:
            return
        cols = list(dict.fromkeys(k for t in totals.values() for k in t))
        self.add("## kpoll counters (cpu boot, all load runs summed)", "")
        self.table(["config", *cols],
                   [[c, *(str(t.get(k, "–")) for k in cols)] for c, t in totals.items()])

    def errors(self) -> None:
        rows = []
        bad_any = False
        for boot_name, boot in self.data["boots"].items():
            for c in boot["configs"]:
                runs = [r for e in boot["entries"] if e["config"] == c
                        for name, r in e.get("runs", {}).items() if name != "idle"]
                errors = sum(r["errors"] for r in runs)
                misses = sum(r["misses"] for r in runs)
                failed = sum(1 for r in runs if r["failed"])
                bad = bool(errors or misses or failed)
                bad_any |= bad
                rows.append([f"{boot_name}: {c}", str(len(runs)), str(errors), str(misses),
                             str(failed), "**NONZERO**" if bad else "ok"])
        self.add("## Load generator errors and misses (must be 0)", "")
        self.table(["boot: config", "runs", "errors", "misses", "failed", ""], rows)
        probs = self.data.get("console_problems") or []
        self.add(f"Kernel console problems: {len(probs)}" + (":" if probs else "."))
        self.add(*(f"    {p}" for p in probs[:20]))
        self.add("")

    def render(self) -> str:
        self.header()
        self.targets()
        self.user_view()
        self.cost_view()
        self.paired_view()
        self.multi_queue()
        self.no_tx_irqs()
        self.counters()
        self.errors()
        return "\n".join(self.lines) + "\n"


def make_report(data: dict[str, Any]) -> str:
    return Report(data).render()
