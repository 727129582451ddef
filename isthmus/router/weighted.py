"""Weighted choice as a pure function of the weights and one uniform random value."""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Sequence


class WeightedChoice:
    """Maps ``r`` in [0, 1) to an index with probability ``weight / sum(weights)``."""

    __slots__ = ("_cumulative", "_total")

    def __init__(self, weights: Sequence[int]):
        if any(w < 0 for w in weights):
            raise ValueError("weights must be non-negative")
        self._cumulative = list(accumulate(weights))
        self._total = self._cumulative[-1] if self._cumulative else 0
        if self._total <= 0:
            raise ValueError("total weight must be positive")

    def pick(self, r: float) -> int:
        # bisect_right skips zero-weight entries: their cumulative value equals the previous one.
        return bisect_right(self._cumulative, r * self._total)
