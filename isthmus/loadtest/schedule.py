"""Intended send times of an open-loop load: pure generators of offsets (seconds from the start).

A profile is a list of segments, each a straight line of rate over time (``rate_from`` to
``rate_to`` over ``duration_s``): a constant load is one flat segment, a step profile several
flat ones, a ramp one sloped one. ``cumulative`` is the expected number of requests by time t
(the integral of the rate); the n-th request is due when it reaches n. Deterministic arrivals
use n = 0, 1, 2, ...; Poisson arrivals use the partial sums of Exp(1) variates drawn from an
injected ``random.Random`` (a unit-rate Poisson process mapped through the inverse of
``cumulative``), so both have the same mean rate at every instant.

A worker's share is every N-th request of the one schedule (``share``), so N workers together
send exactly what one process would.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence


@dataclass(frozen=True)
class Segment:
    rate_from: float  # requests per second at the segment's start
    rate_to: float  # ... and at its end
    duration_s: float

    @property
    def count(self) -> float:
        """Expected number of requests in this segment."""
        return (self.rate_from + self.rate_to) * self.duration_s / 2

    def time_of(self, n: float) -> float:
        """Seconds into the segment at which the expected count reaches ``n`` (0 <= n <= count)."""
        r0, r1, d = self.rate_from, self.rate_to, self.duration_s
        if r0 == r1:
            return n / r0
        a = (r1 - r0) / (2 * d)  # cumulative(t) = r0 t + a t^2
        disc = max(r0 * r0 + 4 * a * n, 0.0)
        root = math.sqrt(disc)
        if r0 + root == 0:  # starts at rate 0 and n == 0
            return 0.0
        return 2 * n / (r0 + root)  # the stable form of (-r0 + root) / 2a


@dataclass(frozen=True)
class Profile:
    segments: tuple[Segment, ...]

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    @property
    def expected_count(self) -> float:
        return sum(s.count for s in self.segments)

    @property
    def peak_rate(self) -> float:
        return max(max(s.rate_from, s.rate_to) for s in self.segments)

    def rate_at(self, t: float) -> float:
        """The intended rate ``t`` seconds into the run (0 after its end)."""
        for s in self.segments:
            if t < s.duration_s:
                return s.rate_from + (s.rate_to - s.rate_from) * t / s.duration_s
            t -= s.duration_s
        return 0.0

    def describe(self) -> dict[str, object]:
        return {"segments": [[s.rate_from, s.rate_to, s.duration_s] for s in self.segments]}


def constant(rate: float, duration_s: float) -> Profile:
    return Profile((Segment(rate, rate, duration_s),))


def steps(levels: Sequence[tuple[float, float]]) -> Profile:
    """``[(rate, duration_s), ...]`` one after another."""
    return Profile(tuple(Segment(r, r, d) for r, d in levels))


def ramp(rate_from: float, rate_to: float, duration_s: float) -> Profile:
    return Profile((Segment(rate_from, rate_to, duration_s),))


def _invert(profile: Profile, marks: Iterable[float]) -> Iterator[float]:
    """Map increasing expected counts to times; stop at the profile's end."""
    segments = iter(profile.segments)
    seg_start_t = 0.0
    seg_start_n = 0.0
    seg = next(segments, None)
    for n in marks:
        while seg is not None and n >= seg_start_n + seg.count:
            seg_start_t += seg.duration_s
            seg_start_n += seg.count
            seg = next(segments, None)
        if seg is None:
            return
        t = seg_start_t + seg.time_of(n - seg_start_n)
        if t >= profile.duration_s:
            return
        yield t


def uniform_offsets(profile: Profile) -> Iterator[float]:
    """Evenly spaced arrivals: request n is due when the expected count reaches n."""
    return _invert(profile, itertools.count())


def poisson_offsets(profile: Profile, rng: random.Random) -> Iterator[float]:
    """Poisson arrivals with the profile's rate at every instant (exponential gaps at a constant rate)."""

    def marks() -> Iterator[float]:
        n = 0.0
        while True:
            n += rng.expovariate(1.0)
            yield n

    return _invert(profile, marks())


def offsets(profile: Profile, *, poisson: bool = False, seed: int = 0) -> Iterator[float]:
    """The run's schedule; Poisson arrivals come from ``random.Random(seed)`` so every worker agrees."""
    return poisson_offsets(profile, random.Random(seed)) if poisson else uniform_offsets(profile)


def share(schedule: Iterable[float], index: int, workers: int, max_requests: int | None = None) -> Iterator[tuple[int, float]]:
    """Worker ``index`` of ``workers``: the global sequence numbers and offsets it sends."""
    limited = itertools.islice(schedule, max_requests) if max_requests is not None else schedule
    return itertools.islice(enumerate(limited), index, None, workers)


def span(profile: Profile, schedule: Iterable[float], max_requests: int | None) -> float:
    """The run's intended length: the profile's, or the time the first request past the cap was due."""
    if max_requests is None:
        return profile.duration_s
    rest = itertools.islice(schedule, max_requests, max_requests + 1)
    return next(rest, profile.duration_s)
