"""Capacity search against fake trials whose latency, errors and throughput change at known rates."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from isthmus.loadtest.capacity import (
    CapacityError,
    LatencyObjective,
    Slo,
    find_capacity,
    judge,
    parse_error_budget,
    parse_slo,
)
from isthmus.loadtest.results import RunResult, new_histogram

DURATION = 10.0


def fake_result(rate: float, *, p99_ms: float, p50_ms: float = 2.0, error_ratio: float = 0.0,
                sent_ratio: float = 1.0, done_ratio: float = 1.0) -> RunResult:
    """A run at ``rate``: 98% of requests at ``p50_ms``, 2% at ``p99_ms``; errors and lag as asked."""
    intended = round(rate * DURATION)
    sent = round(intended * sent_ratio)
    done = round(sent * done_ratio)
    errors = round(done * error_ratio)
    ok = done - errors
    latency = new_histogram()
    slow = max(1, round(ok * 0.02))
    latency.record_value(int(p50_ms * 1000), ok - slow)
    latency.record_value(int(p99_ms * 1000), slow)
    return RunResult(target="fake", profile={"rate": rate}, started_at=0.0, duration_s=DURATION,
                     intended=intended, sent=sent, ok=ok, errors=Counter({"http_503": errors} if errors else {}),
                     latency=latency)


def knee_trial(knee: float, calls: list[float], **above):
    """p99 is 10 ms up to ``knee`` requests/s and 200 ms above it (or whatever ``above`` says)."""

    async def trial(rate: float) -> RunResult:
        calls.append(rate)
        if rate <= knee:
            return fake_result(rate, p99_ms=10.0)
        return fake_result(rate, **({"p99_ms": 200.0} | above))

    return trial


P99_50 = (LatencyObjective(99, 50.0),)


def test_parse_slo_several_and_units() -> None:
    assert parse_slo(["p99=50ms", "p50=5ms"]) == (LatencyObjective(50, 5.0), LatencyObjective(99, 50.0))
    assert parse_slo("p99.9=0.2s,p90=500us") == (LatencyObjective(90, 0.5), LatencyObjective(99.9, 200.0))
    assert parse_slo("p99.9=1s")[0].name == "p99.9"


@pytest.mark.parametrize("bad", ["p99", "p99=50", "q99=5ms", "p0=5ms", "p101=5ms", "p99=0ms", "p99=5ms,p99=6ms", ""])
def test_parse_slo_rejects(bad: str) -> None:
    with pytest.raises(CapacityError):
        parse_slo(bad)


def test_parse_error_budget() -> None:
    assert parse_error_budget("0.1%") == pytest.approx(0.001)
    assert parse_error_budget("0.02") == pytest.approx(0.02)
    assert parse_error_budget("0%") == 0.0
    for bad in ("abc", "150%", "-1%"):
        with pytest.raises(CapacityError):
            parse_error_budget(bad)


@pytest.mark.parametrize("knee", [137.0, 1000.0, 2999.0])
async def test_finds_latency_knee_within_precision(knee: float) -> None:
    calls: list[float] = []
    res = await find_capacity(knee_trial(knee, calls), start_rate=10, max_rate=100_000, slo=P99_50,
                              error_budget=0.001, precision=0.05)
    assert res.capacity is not None
    assert res.capacity <= knee < res.capacity * 1.05
    assert res.binding == "latency p99"
    assert res.converged
    # step-up to the first fail, then bisection: log2(100_000 / 10) + log2(1 / 0.05) + slack
    assert len(calls) <= math.ceil(math.log2(knee / 10)) + 1 + math.ceil(math.log2(1 / 0.05)) + 1
    assert [t.rate for t in res.trials] == calls
    assert all(t.passed == (t.rate <= knee) for t in res.trials)


async def test_deterministic() -> None:
    a = await find_capacity(knee_trial(500, []), start_rate=10, max_rate=10_000, slo=P99_50, error_budget=0)
    b = await find_capacity(knee_trial(500, []), start_rate=10, max_rate=10_000, slo=P99_50, error_budget=0)
    assert a == b


async def test_error_budget_binds() -> None:
    res = await find_capacity(knee_trial(640, [], p99_ms=10.0, error_ratio=0.01), start_rate=10,
                              max_rate=10_000, slo=P99_50, error_budget=0.001)
    assert res.binding == "error budget"
    assert res.capacity <= 640 < res.capacity * 1.05
    failing = [t for t in res.trials if not t.passed]
    assert failing and all(t.failed == ("error budget",) for t in failing)
    assert "budget" in failing[0].detail


async def test_server_throughput_binds() -> None:
    res = await find_capacity(knee_trial(300, [], p99_ms=10.0, done_ratio=0.8), start_rate=10,
                              max_rate=10_000, slo=P99_50, error_budget=0.001)
    assert res.binding == "throughput"
    bad = next(t for t in res.trials if not t.passed)
    assert bad.limited_by == "server" and "server could not keep up" in bad.detail


async def test_generator_throughput_is_named() -> None:
    res = await find_capacity(knee_trial(300, [], p99_ms=10.0, sent_ratio=0.5), start_rate=10,
                              max_rate=10_000, slo=P99_50, error_budget=0.001)
    bad = next(t for t in res.trials if not t.passed)
    assert res.binding == "throughput" and bad.limited_by == "generator"
    assert bad.detail == f"generator could not keep up: sent {bad.sent_rate:.4g}/s of {bad.rate:.4g}/s"
    assert bad.sent_rate == pytest.approx(bad.rate / 2, rel=0.01)


async def test_most_violated_constraint_binds_when_several_fail() -> None:
    # above the knee p99 is 60 ms (1.2x the limit) and errors are 5% (50x the 0.1% budget)
    res = await find_capacity(knee_trial(300, [], p99_ms=60.0, error_ratio=0.05), start_rate=10,
                              max_rate=10_000, slo=P99_50, error_budget=0.001)
    bad = next(t for t in res.trials if not t.passed)
    assert set(bad.failed) == {"latency p99", "error budget"}
    assert res.binding == "error budget"


async def test_second_objective_binds() -> None:
    async def trial(rate: float) -> RunResult:  # p50 degrades above 400/s, p99 never fails
        return fake_result(rate, p50_ms=2.0 if rate <= 400 else 8.0, p99_ms=10.0)

    res = await find_capacity(trial, start_rate=50, max_rate=5000, slo=parse_slo("p50=5ms,p99=50ms"))
    assert res.binding == "latency p50"
    assert res.capacity <= 400 < res.capacity * 1.05
    assert set(res.trials[0].latency_ms) == {"p50", "p99"}


async def test_max_rate_reached() -> None:
    calls: list[float] = []
    res = await find_capacity(knee_trial(1e9, calls), start_rate=100, max_rate=1000, slo=P99_50, error_budget=0)
    assert res.capacity == 1000 and res.binding == "max_rate reached" and res.converged
    assert calls == [100, 200, 400, 800, 1000]


async def test_start_rate_failing_steps_down() -> None:
    calls: list[float] = []
    res = await find_capacity(knee_trial(70, calls), start_rate=1000, max_rate=5000, slo=P99_50, error_budget=0)
    assert calls[:5] == [1000, 500, 250, 125, 62.5]
    assert res.capacity <= 70 < res.capacity * 1.05 and res.binding == "latency p99"
    assert {t.phase for t in res.trials} == {"step-up", "step-down", "bisect"}


async def test_nothing_passes() -> None:
    res = await find_capacity(knee_trial(0.1, []), start_rate=8, max_rate=100, min_rate=1, slo=P99_50,
                              error_budget=0)
    assert res.capacity is None and res.binding == "latency p99" and not res.converged
    assert [t.rate for t in res.trials] == [8, 4, 2, 1]


async def test_trial_limit_is_respected() -> None:
    calls: list[float] = []
    res = await find_capacity(knee_trial(1000, calls), start_rate=1, max_rate=1e6, slo=P99_50, error_budget=0,
                              max_trials=6, precision=0.001)
    assert len(calls) == 6
    assert not res.converged


def test_judge_reports_percentiles_in_ms() -> None:
    t = judge(100, fake_result(100, p99_ms=42.0), Slo(P99_50, 0.0))
    assert t.passed and t.latency_ms["p99"] == pytest.approx(42.0, rel=1e-3)
    assert t.achieved_rate == pytest.approx(100) and t.error_ratio == 0 and t.detail == ""


async def test_trial_limit_while_stepping_up() -> None:
    res = await find_capacity(knee_trial(1e9, []), start_rate=1, max_rate=1e6, slo=P99_50, max_trials=3)
    assert res.capacity == 4 and res.binding == "trial limit" and not res.converged


@pytest.mark.parametrize("kw", [{"start_rate": 100, "max_rate": 10}, {"step_factor": 1.0}, {"precision": 0},
                                {"max_trials": 0}])
async def test_bad_parameters(kw: dict) -> None:
    async def never(rate: float) -> RunResult:
        raise AssertionError

    with pytest.raises(CapacityError):
        await find_capacity(never, slo=P99_50, **({"start_rate": 10, "max_rate": 100} | kw))
