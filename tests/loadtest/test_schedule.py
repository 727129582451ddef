"""Intended send times: exact for even spacing, statistical (fixed seed) for Poisson arrivals."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from isthmus.loadtest import schedule


def test_constant_is_evenly_spaced_from_zero() -> None:
    offs = list(schedule.uniform_offsets(schedule.constant(200, 3)))
    assert len(offs) == 600
    assert offs[0] == 0.0
    assert offs[-1] == pytest.approx(2.995)
    assert all(b - a == pytest.approx(0.005) for a, b in itertools.pairwise(offs))


def test_fractional_counts_round_up_within_the_duration() -> None:
    offs = list(schedule.uniform_offsets(schedule.constant(3, 1.5)))
    assert offs == pytest.approx([0, 1 / 3, 2 / 3, 1.0, 4 / 3])


def test_steps_run_one_after_another() -> None:
    offs = list(schedule.uniform_offsets(schedule.steps([(10, 1), (100, 1), (20, 0.5)])))
    assert len(offs) == 10 + 100 + 10
    assert sum(1 for t in offs if t < 1) == 10
    assert sum(1 for t in offs if 1 <= t < 2) == 100
    assert sum(1 for t in offs if t >= 2) == 10
    assert offs[10] == pytest.approx(1.0)
    assert offs[11] - offs[10] == pytest.approx(0.01)
    assert offs[-1] - offs[-2] == pytest.approx(0.05)


def test_ramp_count_and_rising_rate() -> None:
    offs = list(schedule.uniform_offsets(schedule.ramp(10, 110, 10)))
    assert len(offs) == 600  # (10 + 110) / 2 * 10
    gaps = [b - a for a, b in itertools.pairwise(offs)]
    assert all(g2 < g1 for g1, g2 in itertools.pairwise(gaps))
    assert gaps[0] == pytest.approx(1 / 10, rel=0.05)
    assert gaps[-1] == pytest.approx(1 / 110, rel=0.05)
    # the rate at time t is 10 + 10 t: by t = 5 about 10*5 + 5*25 = 175 requests were due
    assert sum(1 for t in offs if t < 5) == 175


def test_ramp_down_and_from_zero() -> None:
    down = list(schedule.uniform_offsets(schedule.ramp(100, 0, 2)))
    assert len(down) == 100
    up = list(schedule.uniform_offsets(schedule.ramp(0, 100, 2)))
    assert len(up) == 100 and up[0] == 0.0
    assert sorted(up) == up and sorted(down) == down


def test_poisson_mean_and_variance() -> None:
    rate, duration = 1000.0, 20.0
    offs = list(schedule.poisson_offsets(schedule.constant(rate, duration), random.Random(7)))
    # count: Poisson(20000), sd ~141
    assert abs(len(offs) - rate * duration) < 4 * (rate * duration) ** 0.5
    gaps = [b - a for a, b in itertools.pairwise(offs)]
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.03)
    assert statistics.variance(gaps) == pytest.approx(1 / rate**2, rel=0.06)  # exponential: var = mean^2
    per_second = [sum(1 for t in offs if s <= t < s + 1) for s in range(int(duration))]
    dispersion = statistics.variance(per_second) / statistics.fmean(per_second)
    assert 0.4 < dispersion < 1.8  # ~1 for Poisson counts; evenly spaced arrivals would give 0


def test_poisson_follows_a_ramp() -> None:
    offs = list(schedule.poisson_offsets(schedule.ramp(0, 2000, 10), random.Random(3)))
    first, last = sum(1 for t in offs if t < 5), sum(1 for t in offs if t >= 5)
    assert first == pytest.approx(2500, rel=0.06) and last == pytest.approx(7500, rel=0.04)


def test_poisson_is_reproducible_from_the_seed() -> None:
    p = schedule.constant(100, 1)
    assert list(schedule.offsets(p, poisson=True, seed=5)) == list(schedule.offsets(p, poisson=True, seed=5))
    assert list(schedule.offsets(p, poisson=True, seed=5)) != list(schedule.offsets(p, poisson=True, seed=6))


@pytest.mark.parametrize("poisson", [False, True])
def test_worker_shares_are_disjoint_and_make_up_the_schedule(poisson: bool) -> None:
    p = schedule.constant(300, 1)
    whole = list(enumerate(schedule.offsets(p, poisson=poisson, seed=1)))
    shares = [list(schedule.share(schedule.offsets(p, poisson=poisson, seed=1), i, 3)) for i in range(3)]
    assert sorted(itertools.chain(*shares)) == whole
    assert [len(s) for s in shares] == [len(whole) // 3 + (1 if i < len(whole) % 3 else 0) for i in range(3)]


def test_max_requests_caps_the_schedule_and_sets_the_span() -> None:
    p = schedule.constant(200, 10)
    shares = [list(schedule.share(schedule.uniform_offsets(p), i, 2, max_requests=51)) for i in range(2)]
    assert [len(s) for s in shares] == [26, 25]
    assert schedule.span(p, schedule.uniform_offsets(p), 50) == pytest.approx(0.25)
    assert schedule.span(p, schedule.uniform_offsets(p), None) == 10
    assert schedule.span(p, schedule.uniform_offsets(p), 10_000) == 10


def test_rate_at() -> None:
    p = schedule.steps([(10, 1), (20, 1)])
    assert (p.rate_at(0.5), p.rate_at(1.5), p.rate_at(2.5)) == (10, 20, 0)
    assert schedule.ramp(0, 100, 10).rate_at(5) == 50
