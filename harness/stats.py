"""Statistics of repeated measurements: median, range and the verdict of a comparison.

A comparison is decided by the exact two-sided Wilcoxon rank-sum (Mann-Whitney) test at
ALPHA = 1 %, which assumes no distribution: under "no difference" every split of the pooled
repetitions into the two configurations is equally likely, and the verdict is *better* or
*worse* only when fewer than 1 % of the splits put the rank sums at least as far apart as the
measured one. With 5 repetitions each that is exactly "the ranges do not overlap" (all 5 of one
above all 5 of the other: 2 of the C(10, 5) = 252 splits, p = 0.8 %; one value across the
line already gives p = 1.6 %); with more repetitions the test can also decide medians whose
ranges overlap, which low loads on a noisy host need. Otherwise the comparison is a tie: the
data cannot tell.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import comb
from typing import Literal

Verdict = Literal["better", "worse", "tie"]


@dataclass(frozen=True)
class Spread:
    """Repetitions of one metric of one configuration."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Spread:
        return cls(tuple(v for v in values if v is not None))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def high(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def relative(self) -> float | None:
        """max/min − 1: how far the repetitions of one configuration disagree."""
        if not self.values or min(self.values) <= 0:
            return None
        return max(self.values) / min(self.values) - 1

    @property
    def median_relative(self) -> float | None:
        """hi/lo − 1 of the 95 % distribution-free interval for the median (median_interval):
        how far the median itself could sit; None below 6 repetitions (no such interval)."""
        interval = median_interval(self.values)
        if interval is None or interval[0] <= 0:
            return None
        return interval[1] / interval[0] - 1

    def ratio(self, base: Spread) -> float | None:
        m, b = self.median, base.median
        return None if m is None or not b else m / b


ALPHA = 0.01


def twice_midranks(ordered: Sequence[float]) -> list[int]:
    """Twice the rank of each of the sorted values (1-based), equal values sharing their mean
    rank: doubled, so that the halves of shared ranks stay integers."""
    twice: list[int] = []
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j] == ordered[i]:
            j += 1
        twice += [i + 1 + j] * (j - i)  # 2 × the mean of ranks i+1..j
        i = j
    return twice


def rank_sum_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact p of the Wilcoxon rank-sum test of `a` against `b`, equal values sharing
    their mean rank: the share of the C(n+m, n) splits of the pooled values whose rank sum of
    the first n lies at least as far from its mean as `a`'s does."""
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    twice_rank = twice_midranks([v for v, _ in pooled])
    n, total = len(a), len(pooled)
    observed = sum(r for r, (_, side) in zip(twice_rank, pooled, strict=True) if side == 0)
    centre = n * (total + 1)  # 2 × the mean rank sum of n values
    # ways[k][s]: splits choosing k of the values seen so far, with doubled rank sum s.
    top = total * (total + 1)  # 2 × the largest rank sum
    ways = [[0] * (top + 1) for _ in range(n + 1)]
    ways[0][0] = 1
    for r in twice_rank:
        for k in range(n, 0, -1):
            row, below = ways[k], ways[k - 1]
            for s in range(top - r, -1, -1):
                if below[s]:
                    row[s + r] += below[s]
    far = abs(observed - centre)
    extreme = sum(c for s, c in enumerate(ways[n]) if c and abs(s - centre) >= far)
    return extreme / comb(total, n)


def decidable(n: int, m: int) -> bool:
    """Whether n against m repetitions can reach ALPHA at all: the two fully separated splits
    must be rarer than ALPHA (5 each is the fewest for 1 %; 3 each could never say more than
    p = 10 %, so it gets no verdict rather than a tie that sounds like a finding)."""
    return n > 0 and m > 0 and 2 / comb(n + m, n) < ALPHA


def compare(candidate: Spread, base: Spread, higher_is_better: bool) -> Verdict | None:
    """`better`/`worse` when the rank-sum test rejects "no difference" at ALPHA, else `tie`;
    None when the repetitions are too few for the test to ever decide (see `decidable`). The
    direction is the test's own: which side wins more of the candidate-against-base
    comparisons (the sign of the rank sum's distance from its mean), not the medians, which
    can point the other way when the distributions differ in shape."""
    if not decidable(candidate.n, base.n):
        return None
    if rank_sum_p(candidate.values, base.values) >= ALPHA:
        return "tie"
    wins = sum((c > b) - (c < b) for c in candidate.values for b in base.values)
    if wins == 0:
        return "tie"
    return "better" if (wins > 0) == higher_is_better else "worse"


def signed_rank_p(differences: Sequence[float]) -> float:
    """Two-sided exact p of the Wilcoxon signed-rank test that paired differences are centred on
    0: zeros are dropped, equal magnitudes share their mean rank, and under "no difference" each
    of the 2^n sign patterns is equally likely."""
    d = sorted((abs(x), x > 0) for x in differences if x != 0)
    twice_rank = twice_midranks([size for size, _ in d])
    if not twice_rank:
        return 1.0
    observed = sum(r for r, (_, positive) in zip(twice_rank, d, strict=True) if positive)
    total = sum(twice_rank)
    ways = [0] * (total + 1)  # ways[s]: sign patterns whose positive ranks sum to s (doubled)
    ways[0] = 1
    for r in twice_rank:
        for s in range(total - r, -1, -1):
            ways[s + r] += ways[s]
    far = abs(2 * observed - total)  # distance from the mean total/2, doubled
    extreme: int = sum(c for s, c in enumerate(ways) if c and abs(2 * s - total) >= far)
    return extreme / (1 << len(d))


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free interval for the median: the k-th smallest and k-th largest value, k
    the largest for which both tails of Binomial(n, 1/2) below k stay within (1 − level) / 2
    (n = 12 gives the 3rd and 10th, 96 %). None when n is too small for that level."""
    n = len(values)
    tail, k = 0.0, 0
    while True:
        tail += comb(n, k) / 2 ** n
        if tail > (1 - level) / 2:
            break
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def paired_verdict(log_ratios: Sequence[float], higher_is_better: bool) -> Verdict | None:
    """The verdict on pairs of adjacent runs, log(candidate / base) per pair: the signed-rank
    test at ALPHA; None when the pairs that differ (zeros carry no sign) are too few for
    2 / 2^n to reach it (fewer than 8). The direction is the test's own: the sign of the
    signed ranks' sum."""
    differing = [x for x in log_ratios if x != 0]
    if 2 / 2 ** len(differing) >= ALPHA:
        return None
    if signed_rank_p(differing) >= ALPHA:
        return "tie"
    ordered = sorted((abs(x), x > 0) for x in differing)
    ranks = twice_midranks([size for size, _ in ordered])
    lean = sum(r if positive else -r for r, (_, positive) in zip(ranks, ordered, strict=True))
    if lean == 0:
        return "tie"
    return "better" if (lean > 0) == higher_is_better else "worse"


def not_worse(candidate: Spread, base: Spread, higher_is_better: bool) -> bool | None:
    """A "≤ 1.00× within the spread" target: met unless the candidate is worse outside it."""
    verdict = compare(candidate, base, higher_is_better)
    return None if verdict is None else verdict != "worse"


def fmt_range(s: Spread, fmt: str) -> str:
    """`median [min–max]` with the given format, or – without data."""
    if s.median is None or s.low is None or s.high is None:
        return "–"
    return f"{fmt.format(s.median)} [{fmt.format(s.low)}–{fmt.format(s.high)}]"


def median_of(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None
