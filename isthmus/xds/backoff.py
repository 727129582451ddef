"""Reconnect delays: exponential, capped, jittered. Pure; the random source is injected."""

from __future__ import annotations

import random as _random
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` before the n-th consecutive retry (n = 0, 1, ...): ``initial * multiplier**n``,
    at most ``maximum``, then scaled by a factor in ``[1 - jitter, 1]`` so a fleet that lost the
    same control plane does not reconnect in lockstep."""

    initial: float = 0.1
    maximum: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5
    random: Callable[[], float] = field(default=_random.random, compare=False)

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        return base * (1.0 - self.jitter * self.random())
