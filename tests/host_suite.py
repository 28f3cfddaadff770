"""Host-side tests: the policy crate's unit tests and the build scripts' error paths."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from tests.tap import Results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cargo_tests(results: Results) -> None:
    proc = subprocess.run(["cargo", "test", "--workspace"], cwd=ROOT, capture_output=True,
                          text=True)
    found = 0
    for line in proc.stdout.splitlines():
        m = re.match(r"^test (\S+) \.\.\. (ok|FAILED|ignored)$", line)
        if m and m.group(2) != "ignored":
            found += 1
            results.record(f"host: {m.group(1)}", m.group(2) == "ok")
    if proc.returncode != 0 and found == 0:
        results.record("host: cargo test", False, proc.stderr[-3000:])
    elif proc.returncode != 0:
        results.record("host: cargo test exit status", False, proc.stderr[-2000:])


def broken_patch_is_one_line(results: Results) -> None:
    """A patch that does not apply stops the build with one line naming it."""

    def check() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            fake = os.path.join(tmp, "repo")
            for d in ("scripts", "config", "patches"):
                shutil.copytree(os.path.join(ROOT, d), os.path.join(fake, d))
            with open(os.path.join(fake, "patches", "9999-broken.patch"), "w") as f:
                f.write("--- a/Makefile\n+++ b/Makefile\n@@ -1,1 +1,1 @@\n-no such line\n+x\n")
            env = dict(os.environ, KPOLL_CACHE=os.path.join(tmp, "cache"))
            proc = subprocess.run(["bash", os.path.join(fake, "scripts", "prepare-kernel.sh")],
                                  env=env, capture_output=True, text=True)
            errors = [line for line in proc.stderr.splitlines()
                      if line.startswith("kpoll: error")]
            assert proc.returncode != 0, "prepare-kernel.sh succeeded with a broken patch"
            assert len(errors) == 1 and "9999-broken.patch does not apply" in errors[0], proc.stderr
            assert "made for 6.12.117" in errors[0], errors[0]
            return errors[0]

    results.run("host: a patch that does not apply is reported in one line", check)


def missing_tun_is_one_line(results: Results) -> None:
    def check() -> str:
        env = dict(os.environ, KPOLL_TUN_DEVICE="/nonexistent/tun")
        proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup-toolchain.sh")],
                              env=env, capture_output=True, text=True)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode != 0, "setup succeeded without a tun device"
        assert len(lines) == 1 and "tun" in lines[0], proc.stderr
        return lines[0]

    results.run("host: a missing /dev/net/tun is reported in one line", check)


def wrong_rustc_is_one_line(results: Results) -> None:
    def check() -> str:
        env = dict(os.environ, KPOLL_RUSTC="/bin/false")
        proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "check-rust.sh")],
                              env=env, capture_output=True, text=True)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode != 0, "check-rust.sh accepted /bin/false as rustc"
        assert len(lines) == 1 and "Rust" in lines[0], proc.stderr
        return lines[0]

    results.run("host: an unusable rustc is reported in one line", check)


# Lines from real reports of the kernel's checkers, and benign boot lines of the debug kernel.
SPLATS = [
    "WARNING: CPU: 0 PID: 1 at kernel/time/hrtimer.c:1250 hrtimer_start_range_ns+0x1/0x2",
    "WARNING: possible circular locking dependency detected",
    "WARNING: possible recursive locking detected",
    "WARNING: inconsistent lock state",
    "WARNING: suspicious RCU usage",
    "BUG: sleeping function called from invalid context at mm/slab.h:1",
    "BUG: KASAN: slab-use-after-free in napi_poll+0x10/0x20",
    "ODEBUG: free active (active state 0) object: ffff8880 object type: hrtimer hint: x",
    "DEBUG_LOCKS_WARN_ON(1)",
    "rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
    "list_del corruption. prev->next should be ffff, but was 0000",
    "Oops: general protection fault, probably for non-canonical address",
]
BENIGN = [
    "Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar",
    "rcu: \tRCU lockdep checking is enabled.",
    "Running RCU synchronous self tests",
    "kasan: KernelAddressSanitizer initialized",
    "Linux version 6.12.117 (root@vm) (Debian clang version 14.0.6) #1 SMP PREEMPT_RT Sun Nov 29",
    "ODEBUG: selftest passed",
    "kpoll: loaded (watchdog 10000 us)",
]


def console_patterns(results: Results) -> None:
    """The console scan catches every kind of checker report and none of the boot noise."""

    def check() -> str:
        from harness.console import PROBLEM_RE
        missed = [line for line in SPLATS if not PROBLEM_RE.search(line)]
        false = [line for line in BENIGN if PROBLEM_RE.search(line)]
        assert not missed and not false, f"missed {missed}; flagged {false}"
        return f"{len(SPLATS)} report kinds caught, {len(BENIGN)} benign lines passed"

    results.run("host: console scan catches lockdep/RCU/KASAN/ODEBUG reports", check)


def bench_reports(results: Results) -> None:
    """Every committed result set re-renders to its report.md, byte for byte (one definition of
    the report: harness/bench_report.py), and a run of the cpu boot alone reports no wall-clock
    target (it measured none; an early version printed them as "0.000× (–)")."""

    def check() -> str:
        import glob
        import json

        from harness.bench_report import make_report
        sets = sorted(os.path.dirname(p) for p in
                      glob.glob(os.path.join(ROOT, "docs", "results", "**", "results.json"),
                                recursive=True))
        cpu_only = []
        for folder in sets:
            with open(os.path.join(folder, "results.json")) as f:
                data = json.load(f)
            report = make_report(data)
            with open(os.path.join(folder, "report.md")) as f:
                assert report == f.read(), f"{folder}: report.md is stale"
            if set(data["boots"]) == {"cpu"}:
                cpu_only.append(folder)
                targets = report.split("## Targets", 1)[1].split("\n## ", 1)[0]
                # "0.00": how a wall-clock ratio without data prints ("(–)" alone is a cpu
                # target's verdict with too few repetitions).
                for word in ("(rate)", ": rate ", ": p50 ", ": p99 ", "upstream semantics",
                             "0.00×", "0.000×"):
                    assert word not in targets, f"{folder}: a wall-clock target: {targets}"
        assert cpu_only, "no committed cpu-only result set to check"
        return f"{len(sets)} result sets re-rendered, {len(cpu_only)} of the cpu boot alone"

    results.run("host: committed bench reports re-render; a cpu-only run has no wall targets",
                check)


def window_edge(results: Results) -> None:
    """A measured window's edge reads memcached's count inside the busy-time command, before and
    after the busy time, and averages them (a fake guest answers the one command); the edge
    reads' own busy time is the median of back-to-back pairs."""

    def check() -> str:
        from harness.guest_metrics import BUSY_COMMAND, SEPARATOR
        from harness.load_run import WindowEdge, edge_busy_ns, read_window_edge
        from harness.memcached import GUEST_STATS_COMMAND

        busy = ("@cpu 0\nnow at {} nsecs\n  .idle_sleeptime : 2500 nsecs\n"
                "  .iowait_sleeptime: 500 nsecs\n")
        stats = "STAT pid 7\r\nSTAT cmd_get {}\r\nSTAT cmd_set {}\r\nSTAT version 1.6\r\nEND\r\n"

        class EdgeReads:
            """Answers edge reads; each read's busy time is `step` ns after the last one's."""

            def __init__(self, steps: list[int]) -> None:
                self.script, self.now, self.steps = "", 9000, steps

            def check(self, script: str, timeout: float | None = None) -> str:
                self.script = script
                text = SEPARATOR.join([stats.format(100, 10), busy.format(self.now),
                                       stats.format(140, 14)])
                self.now += self.steps.pop(0) if self.steps else 0
                return text

        guest = EdgeReads([])
        edge = read_window_edge(guest)  # type: ignore[arg-type]
        assert edge == WindowEdge(clock_ns=9000, busy_ns=6000, requests=132, spread=44), edge
        before, rest = guest.script.split(BUSY_COMMAND)
        assert before.startswith(GUEST_STATS_COMMAND) and rest.endswith(GUEST_STATS_COMMAND), (
            guest.script)
        # Pairs of back-to-back reads 700, 900 and 800 ns apart (a pause of 10**6 ns between
        # pairs): the edge reads' own busy time is the median span within a pair.
        pairs = EdgeReads([700, 10**6, 900, 10**6, 800, 10**6])
        own = edge_busy_ns(pairs, 3)  # type: ignore[arg-type]
        assert own == 800, own

        # A cut reply (a failed nc, no END) and a count that went back are errors, not counts.
        class Replies(EdgeReads):
            def __init__(self, first: str, last: str) -> None:
                super().__init__([])
                self.first, self.last = first, last

            def check(self, script: str, timeout: float | None = None) -> str:
                return SEPARATOR.join([self.first, busy.format(9000), self.last])

        whole = stats.format(100, 10)
        for first, last, why in ((whole, "STAT cmd_get 140\r\nSTAT cmd_s", "cut short"),
                                 (whole, whole + SEPARATOR, "4 parts"),
                                 ("", whole, "cut short"),
                                 (stats.format(100, 10), stats.format(90, 10), "went back")):
            try:
                read_window_edge(Replies(first, last))  # type: ignore[arg-type]
            except RuntimeError as e:
                assert why in str(e), e
            else:
                raise AssertionError(f"accepted {first!r} then {last!r}")
        return f"{edge}; own busy time of an edge pair {own} ns; bad replies refused"

    results.run("host: a window edge averages memcached's count around the busy-time read and "
                "knows its own cost",
                check)


def icount_units(results: Results) -> None:
    """Busy time becomes instructions by the boot's recorded -icount shift (the run, the report
    and its prose agree); result sets without it ran shift 0; a shift QEMU would refuse is an
    error and `shift=auto` gives no instruction count."""

    def check() -> str:
        import dataclasses

        from harness.bench_report import cost, icount_prose
        from harness.errors import VmError
        from harness.load_run import Run
        from harness.vm import ICOUNT_DEFAULT, icount_shift

        assert icount_shift(ICOUNT_DEFAULT) == 0
        assert icount_shift("shift=5,align=on,sleep=on") == 5
        assert icount_shift("7") == 7
        assert icount_shift("shift=auto,sleep=on") is None
        assert icount_shift("sleep=on") is None
        for bad in ("shift=11", "shift=-1", "shift=\u00b2", "shift=\u0663", "shift=x"):
            try:
                icount_shift(bad)
            except VmError:
                continue
            raise AssertionError(f"accepted -icount {bad}")
        run = Run(load="sat", requests=1000, busy_ns=32 * 16_000_000, elapsed_ns=10**9,
                  rx_irqs=0, net_rx=0, rate=1.0, p50_us=1.0, p99_us=1.0, p999_us=1.0,
                  errors=0, misses=0, failed=False, icount_shift=5)
        assert run.instructions_per_req == 16000, run.instructions_per_req
        as_saved = dataclasses.asdict(run)
        assert cost(as_saved) == 16000, cost(as_saved)
        del as_saved["icount_shift"]  # result sets from before: shift=0
        assert cost(as_saved) == 32 * 16000
        aligned = icount_prose("shift=5,align=on,sleep=on")
        assert "2^5 = 32 ns per" in aligned and "divided by 32" in aligned, aligned
        assert "divided" not in icount_prose(ICOUNT_DEFAULT)
        return f"shift 5: {run.instructions_per_req:.0f} instructions/request"

    results.run("host: the icount shift turns busy time into instructions, in the run and the "
                "report alike", check)


def window_order(results: Results) -> None:
    """A configuration's windows in its memcached: idle first after the preload, open loops
    before closed ones, closed loops by the requests they keep in flight, so that no window
    follows a closed loop that keeps more in flight (memcached's deferred work for a faster
    configuration's extra requests would be charged to it); the report says so only for result
    sets that recorded the order."""

    def check() -> str:
        from harness.bench_report import window_order_prose
        from harness.bench_run import BOOTS, LOADS, window_sequence
        from harness.load_run import Load

        by_name = {ld.name: ld for ld in LOADS}
        for spec in BOOTS:
            seq = window_sequence([by_name[n] for n in spec.loads])
            assert sorted(seq) == sorted(["idle", *spec.loads]), (spec.name, seq)
            loads = [by_name[n] for n in seq if n != "idle"]
            for before, after in zip(loads, loads[1:], strict=False):
                if before.etc != after.etc:
                    continue  # a new preload in between
                assert before.closed <= after.closed, (spec.name, seq)
                if before.closed:
                    in_flight = before.connections * before.depth
                    assert in_flight <= after.connections * after.depth, (spec.name, seq)
            if any(not ld.etc for ld in loads):
                assert seq[0] == "idle", (spec.name, seq)
        wall = window_sequence([by_name[n] for n in ("sat", "low", "open10", "open30")])
        assert wall == ["idle", "open10", "open30", "low", "sat"], wall
        assert window_sequence([Load("a", 16), Load("b", 16, closed=False,
                                                    rate_fraction=0.5)]) == ["idle", "b", "a"]
        prose = window_order_prose({"cpu": {"window_order": wall}})
        assert "idle → open10 → open30 → low → sat" in prose, prose
        assert window_order_prose({"cpu": {"configs": []}}) == ""
        return "cpu boot: " + " → ".join(window_sequence(
            [by_name[n] for n in BOOTS[0].loads]))

    results.run("host: no bench window follows a closed loop that keeps more requests in flight",
                check)


def bench_verdicts(results: Results) -> None:
    """The bench's verdict (harness.stats): the exact rank-sum p agrees with counting every
    split of the pooled values, ties included, and with 5 repetitions each the verdict is the
    one the committed reports were made with, "the ranges do not overlap"."""

    def check() -> str:
        import itertools
        import random

        from harness.stats import (
            Spread,
            compare,
            median_interval,
            paired_verdict,
            rank_sum_p,
            signed_rank_p,
        )

        def brute_p(a: list[float], b: list[float]) -> float:
            pooled = sorted(a + b)
            rank = {v: (2 * pooled.index(v) + 1 + pooled.count(v)) / 2 for v in pooled}
            ranks = [rank[v] for v in a + b]
            centre = len(a) * (len(pooled) + 1) / 2
            far = abs(sum(ranks[:len(a)]) - centre)
            splits = list(itertools.combinations(ranks, len(a)))
            return sum(abs(sum(c) - centre) >= far - 1e-9 for c in splits) / len(splits)

        rng = random.Random(11)
        for _ in range(40):
            n, m = rng.randint(1, 6), rng.randint(1, 6)
            a = [float(rng.randint(0, 6)) for _ in range(n)]  # small integers: many ties
            b = [float(rng.randint(2, 8)) for _ in range(m)]
            assert abs(rank_sum_p(a, b) - brute_p(a, b)) < 1e-12, (a, b)
        decided = 0
        for _ in range(300):
            a = [rng.gauss(0, 1) for _ in range(5)]
            b = [rng.gauss(rng.choice((0.0, 2.0, 4.0)), 1) for _ in range(5)]
            apart = min(a) > max(b) or max(a) < min(b)
            verdict = compare(Spread.of(a), Spread.of(b), True)
            assert (verdict != "tie") == apart, (a, b, verdict)
            decided += apart
        assert compare(Spread.of([1.0, 2, 3, 4]), Spread.of([5.0, 6, 7, 8]), True) is None

        def brute_signed(d: list[float]) -> float:
            kept = [x for x in d if x != 0]
            size = sorted(abs(x) for x in kept)
            rank = {v: (2 * size.index(v) + 1 + size.count(v)) / 2 for v in size}
            ranks = [rank[abs(x)] for x in kept]
            total = sum(ranks)
            far = abs(2 * sum(r for r, x in zip(ranks, kept, strict=True) if x > 0) - total)
            signs = list(itertools.product((False, True), repeat=len(kept)))
            return sum(abs(2 * sum(r for r, s in zip(ranks, sg, strict=True) if s) - total)
                       >= far - 1e-9 for sg in signs) / len(signs)

        for _ in range(40):
            d = [float(rng.randint(-4, 6)) for _ in range(rng.randint(1, 10))]  # ties, zeros
            assert abs(signed_rank_p(d) - brute_signed(d)) < 1e-12, d
        assert paired_verdict([0.1] * 7, True) is None  # 2/128 > 1 %: never decidable
        assert paired_verdict([0.1] * 7 + [0.0], True) is None  # a zero carries no sign
        # The rank-sum test's direction, not the medians': a wins 256 of 900 comparisons.
        low = Spread.of([0.001 * i for i in range(14)] + [6 + 0.001 * i for i in range(16)])
        high = Spread.of([5 + 0.001 * i for i in range(16)] + [100 + 0.001 * i for i in range(14)])
        assert low.median is not None and high.median is not None and low.median > high.median
        assert compare(low, high, True) == "worse", rank_sum_p(low.values, high.values)
        assert paired_verdict([0.1] * 8, True) == "better"
        assert paired_verdict([0.1, -0.1] * 6, False) == "tie"
        assert median_interval([float(i) for i in range(12)]) == (2.0, 9.0)
        # The repeatability target's interval: none at 5 repetitions; at 12, two outliers on
        # each side move max/min − 1 but not the 3rd and 10th values.
        assert Spread.of([100.0, 101, 102, 103, 104]).median_relative is None
        wide = Spread.of([80.0, 90, 100, 100, 100, 100, 101, 101, 101, 102, 120, 130])
        assert wide.median_relative == 102 / 100 - 1 and wide.relative == 130 / 80 - 1, wide
        many = Spread.of([100.0 + i for i in range(15)])
        shifted = Spread.of([106.0 + i for i in range(15)])  # ranges overlap by 9 of 15
        assert compare(shifted, many, True) == "better", rank_sum_p(shifted.values, many.values)
        return (f"exact rank-sum and signed-rank p equal enumeration in 40 tied samples each; "
                f"5 against 5: {decided} of 300 "
                f"decided, each exactly when the ranges were apart; 15 against 15 decides "
                f"overlapping ranges (p {rank_sum_p(shifted.values, many.values):.4f})")

    results.run("host: bench verdicts are exact rank tests (ranges apart at 5 repetitions)",
                check)


def insn_profiles(results: Results) -> None:
    """The profile's arithmetic (harness/insn_profile.py, scripts/profile.py): retranslated blocks
    add up, a window is the difference of two snapshots, addresses map to the function that
    starts at or below them (user space and modules apart), Rust names read back."""

    def check() -> str:
        from collections import Counter

        from harness import insn_profile as ip
        from scripts.profile import parts
        before = ip.parse_snapshot("# dropped 0\nffffffff81000010 40 10\n400000 21 7\n")
        after = ip.parse_snapshot("# dropped 0\nffffffff81000010 100 25\nffffffff81000010 10 5\n"
                                  "400000 21 7\nffffffffa0001008 10 2\nffffffff81000100 1 1\n")
        assert after.insns[0xFFFFFFFF81000010] == 110, after
        assert after.runs[0xFFFFFFFF81000010] == 30, after
        try:
            ip.parse_snapshot("# dropped 3\n")
            raise AssertionError("an overflowed block table accepted")
        except RuntimeError:
            pass
        ran = ip.window(before, after)
        win = ran.insns
        assert win == Counter({0xFFFFFFFF81000010: 70, 0xFFFFFFFFA0001008: 10,
                               0xFFFFFFFF81000100: 1}), win
        assert ran.runs[0xFFFFFFFF81000010] == 20, ran.runs
        syms = ip.Symbols.parse(
            "ffffffff81000000 T ep_poll\nffffffff81000100 t do_idle\n"
            "ffffffff81000080 d some_data\nffffffffa0001000 t "
            "_RNvMNtCs9xS4Xbd5J8k_5kpoll5hooksNtNtB4_5state5Kpoll9end_holds\t[kpoll]\n")
        funcs = syms.by_function(win + Counter({0x7F00_0000_1000: 9}))
        assert funcs == Counter({"ep_poll": 70, "do_idle": 1, ip.USER: 9,
                                 "_RNvMNtCs9xS4Xbd5J8k_5kpoll5hooksNtNtB4_5state5Kpoll9end_holds"
                                 " [kpoll]": 10}), funcs
        calls = syms.entries(ran.runs)
        assert calls == Counter({"do_idle": 1}), calls  # the others' blocks start inside
        split = parts(funcs)
        assert split == {"all": 90, "kernel": 71, "modules": 10, "user": 9}, split
        names = sorted(ip.readable(f) for f in funcs)
        assert "state::Kpoll::end_holds [kpoll]" in names, names
        twins = ["_RNvXs_NtCsa_5kpoll5stateNtB2_5KpollNtNtCsb_4core3fmt7Display3fmt",
                 "_RNvXs0_NtCsa_5kpoll5tableNtB3_5TableNtNtCsb_4core3fmt7Display3fmt"]
        shown = ip.labels(twins)
        assert len(set(shown.values())) == 2 and all("Display::fmt" in v
                                                     for v in shown.values()), shown
        try:
            ip.Symbols.parse("0000000000000000 T ep_poll\n")
            raise AssertionError("zeroed kallsyms accepted")
        except ValueError:
            pass
        import glob
        import json

        from scripts.profile import report
        committed = sorted(glob.glob(os.path.join(ROOT, "docs", "results", "*", "profile.json")))
        for path in committed:
            with open(path) as f:
                text = report(json.load(f))
            with open(os.path.join(os.path.dirname(path), "report.md")) as f:
                assert text == f.read(), f"{path}: report.md is stale"
        # A profile with the bench's busy time per window shows it as one more row, per request.
        from scripts.profile import BUSY
        assert committed, "no committed profile to render"
        with open(committed[0]) as f:
            data = json.load(f)
        for w in data["windows"]:
            w["parts"].pop(BUSY[1], None)
        assert BUSY[0] not in report(data)
        for w in data["windows"]:
            w["parts"][BUSY[1]] = 3 * w["requests"] * (2 if w["config"] == data["configs"][1]
                                                       else 1)
        row = next(line for line in report(data).splitlines() if line.startswith(f"| {BUSY[0]}"))
        assert row.startswith(f"| {BUSY[0]} | 3 [3–3] | 6 [6–6] |"), row
        return (f"snapshots, windows, symbols, parts and Rust names as expected; "
                f"{len(committed)} committed profiles re-rendered")

    results.run("host: instruction profiles add up by function", check)


def run(results: Results) -> None:
    cargo_tests(results)
    broken_patch_is_one_line(results)
    missing_tun_is_one_line(results)
    wrong_rustc_is_one_line(results)
    console_patterns(results)
    bench_reports(results)
    window_edge(results)
    icount_units(results)
    window_order(results)
    insn_profiles(results)
    bench_verdicts(results)
