"""Which endpoint a try goes to: pure functions of the endpoint set and an injected random source.

``pick(hosts, tried)`` returns an endpoint index that is one of ``hosts.usable``, avoiding
``tried`` (one index, or a frozenset of them; -1 for none) when another usable endpoint exists,
and -1 when ``hosts.usable`` is empty (only possible with panic off: Envoy's "no healthy
upstream"). Both balancers are a few attribute reads and integer updates per pick; whatever
depends on the set of usable endpoints is rebuilt when ``hosts.usable`` is a new tuple.

- :class:`RoundRobin`: smooth weighted round robin (nginx's), precomputed as a schedule of
  endpoint indices when the usable set changes; a pick is a position increment. Envoy uses an
  EDF scheduler for weighted round robin; the sequence differs, the shares are the same. A
  schedule is at most :data:`MAX_SCHEDULE` long: weights summing to more are scaled down (each
  at least 1), which bounds the error of a share by about half a slot. The start position is
  drawn at random (Envoy does the same), so gateways do not all start on endpoint 0.
- :class:`LeastRequest`: Envoy's power of ``choice_count`` choices: draw ``choice_count``
  usable endpoints at random (with replacement, like Envoy) and keep the one with the fewest
  requests in flight (the first drawn on a tie). Equal weights: exactly Envoy's. Unequal
  weights: Envoy switches to an EDF schedule on ``weight / (active + 1)``; here the draws are
  weighted (each endpoint drawn with probability weight / total) and the fewer
  ``in_flight / weight`` wins (ties: the first drawn), which needs no schedule: idle, the shares
  are the weights; loaded, the requests in flight spread in proportion to the weights.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from math import gcd
from typing import Callable, Protocol

from isthmus.config.resilience import LoadBalancerConfig
from isthmus.upstream.hosts import EndpointSet

Random = Callable[[], float]
Tried = int | frozenset[int]

#: the longest round-robin schedule kept (weights summing to more are scaled down)
MAX_SCHEDULE = 4096


class Balancer(Protocol):
    def pick(self, hosts: EndpointSet, tried: Tried = -1) -> int:
        """An endpoint index among ``hosts.usable``, not in ``tried`` when another is usable; -1
        when none is usable."""
        ...


def balancer_for(config: LoadBalancerConfig, random: Random) -> Balancer:
    """The balancer a backend's ``load_balancer`` settings ask for."""
    if config.policy == "least_request":
        return LeastRequest(config.choice_count, random)
    return RoundRobin(random)


def _untried(usable: tuple[int, ...], tried: Tried) -> tuple[int, ...]:
    """``usable`` without ``tried``; ``usable`` itself when nothing else is left."""
    if isinstance(tried, int):
        rest = tuple(i for i in usable if i != tried)
    else:
        rest = tuple(i for i in usable if i not in tried)
    return rest or usable


def smooth_schedule(indices: tuple[int, ...], weights: list[int]) -> tuple[int, ...]:
    """nginx's smooth weighted round robin unrolled over one period: each index appears
    ``weight`` times, spread out (weights 5, 1, 1 give a a b a c a a, not a a a a a b c)."""
    total = sum(weights)
    current = [0] * len(indices)
    out = []
    for _ in range(total):
        best = 0
        for k, w in enumerate(weights):
            current[k] += w
            if current[k] > current[best]:
                best = k
        current[best] -= total
        out.append(indices[best])
    return tuple(out)


def _scaled(weights: list[int]) -> list[int]:
    """Weights divided by their common divisor, and scaled to :data:`MAX_SCHEDULE` when larger."""
    d = 0
    for w in weights:
        d = gcd(d, w)
    weights = [w // d for w in weights]
    total = sum(weights)
    if total > MAX_SCHEDULE:
        weights = [max(1, w * MAX_SCHEDULE // total) for w in weights]
    return weights


class RoundRobin:
    """Smooth weighted round robin over ``hosts.usable`` (weights from ``hosts.weights``)."""

    __slots__ = ("_random", "_usable", "_schedule", "_size", "_pos")

    def __init__(self, random: Random | None = None):
        self._random = random
        self._usable: tuple[int, ...] | None = None
        self._schedule: tuple[int, ...] = ()
        self._size = 0
        self._pos = -1

    def pick(self, hosts: EndpointSet, tried: Tried = -1) -> int:
        if hosts.usable is not self._usable:
            self._rebuild(hosts)
        pos = self._pos + 1
        if pos >= self._size:
            if not self._size:
                return -1
            pos = 0
        self._pos = pos
        i = self._schedule[pos]
        if tried == -1:
            return i
        return self._avoiding(i, tried)

    def _avoiding(self, i: int, tried: Tried) -> int:
        """The next scheduled endpoint not in ``tried`` (``i`` when every usable one was tried);
        the position does not move, so the rotation stays fair for the other requests."""
        avoid = frozenset((tried,)) if isinstance(tried, int) else tried
        if i not in avoid:
            return i
        schedule, size, pos = self._schedule, self._size, self._pos
        for step in range(1, size):
            j = schedule[(pos + step) % size]
            if j not in avoid:
                return j
        return i

    def _rebuild(self, hosts: EndpointSet) -> None:
        usable = hosts.usable
        if hosts.equal_weights:
            schedule = usable
        else:
            schedule = smooth_schedule(usable, _scaled([hosts.weights[i] for i in usable]))
        self._usable, self._schedule, self._size = usable, schedule, len(schedule)
        self._pos = (int(self._random() * self._size) if self._random is not None and self._size else 0) - 1

    def __repr__(self) -> str:
        return f"RoundRobin(schedule={self._schedule})"


class LeastRequest:
    """Power of ``choice_count`` choices on ``hosts.in_flight``, weighted as described above."""

    __slots__ = ("choice_count", "_random", "_usable", "_cumulative")

    def __init__(self, choice_count: int, random: Random):
        if choice_count < 2:
            raise ValueError("choice_count must be at least 2")
        self.choice_count = choice_count
        self._random = random
        self._usable: tuple[int, ...] | None = None
        self._cumulative: list[int] = []

    def pick(self, hosts: EndpointSet, tried: Tried = -1) -> int:
        usable = hosts.usable
        if tried != -1:
            usable = _untried(usable, tried)
        n = len(usable)
        if n < 2:
            return usable[0] if n else -1
        rnd = self._random
        in_flight = hosts.in_flight
        if hosts.equal_weights:
            r = int(rnd() * n * n)  # one draw for two independent choices: r // n and r % n
            best = usable[r // n]
            c = usable[r % n]
            if in_flight[c] < in_flight[best]:
                best = c
            if self.choice_count > 2:
                for _ in range(self.choice_count - 2):
                    c = usable[int(rnd() * n)]
                    if in_flight[c] < in_flight[best]:
                        best = c
            return best
        weights = hosts.weights
        if usable is self._usable:
            cumulative = self._cumulative
        else:
            cumulative = list(accumulate(weights[i] for i in usable))
            if tried == -1:  # keep the table of the full usable set, not a retry's
                self._usable, self._cumulative = usable, cumulative
        total = cumulative[-1]
        best = usable[bisect_right(cumulative, rnd() * total)]
        c = usable[bisect_right(cumulative, rnd() * total)]
        # in_flight[c] / weights[c] < in_flight[best] / weights[best], without division
        if in_flight[c] * weights[best] < in_flight[best] * weights[c]:
            best = c
        if self.choice_count > 2:
            for _ in range(self.choice_count - 2):
                c = usable[bisect_right(cumulative, rnd() * total)]
                if in_flight[c] * weights[best] < in_flight[best] * weights[c]:
                    best = c
        return best

    def __repr__(self) -> str:
        return f"LeastRequest(choice_count={self.choice_count})"
