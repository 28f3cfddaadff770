"""Statistics of repeated measurements: median, range and the verdict of a comparison.

A comparison between two configurations is only decided when the ranges of their repetitions
do not overlap: with n repetitions per configuration, the chance that all n of one lie below
all n of the other when both come from the same distribution is 1 / C(2n, n) (1/252 for n = 5),
so a verdict outside the range is a verdict at better than 99 % confidence, without assuming a
distribution. With ranges that overlap the comparison is a tie: the data cannot tell.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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

    def ratio(self, base: Spread) -> float | None:
        m, b = self.median, base.median
        return None if m is None or not b else m / b


MIN_REPS_FOR_VERDICT = 3


def compare(candidate: Spread, base: Spread, higher_is_better: bool) -> Verdict | None:
    """`better`/`worse` when the ranges do not overlap, else `tie`; None with fewer than
    MIN_REPS_FOR_VERDICT repetitions on either side (two single values always differ)."""
    if candidate.n < MIN_REPS_FOR_VERDICT or base.n < MIN_REPS_FOR_VERDICT:
        return None
    c_lo, c_hi, b_lo, b_hi = candidate.low, candidate.high, base.low, base.high
    assert c_lo is not None and c_hi is not None and b_lo is not None and b_hi is not None
    if c_lo > b_hi:
        return "better" if higher_is_better else "worse"
    if c_hi < b_lo:
        return "worse" if higher_is_better else "better"
    return "tie"


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
