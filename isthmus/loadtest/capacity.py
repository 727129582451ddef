"""Capacity search: the highest request rate that meets a latency SLO and an error budget.

The search is pure given its trial function (``rate -> Awaitable[RunResult]``): it steps the
rate up geometrically until a trial fails or ``max_rate`` is reached, then bisects between the
last passing and the first failing rate until they are within ``precision`` (relative) of each
other. It never imports the load engine; the CLI passes a closure that runs one load at a rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from isthmus.loadtest.errors import LoadTestError
from isthmus.loadtest.results import RunResult


class CapacityError(LoadTestError, ValueError):
    """A bad SLO, error budget or search parameter."""


@dataclass(frozen=True)
class LatencyObjective:
    """``p99=50ms``: the 99th percentile of latency must be at most 50 ms."""

    percentile: float  # 0 < percentile <= 100
    limit_ms: float

    @property
    def name(self) -> str:
        return f"p{self.percentile:g}"

    @property
    def constraint(self) -> str:
        return f"latency {self.name}"


_SLO = re.compile(r"^\s*p(\d+(?:\.\d+)?)\s*=\s*(\d+(?:\.\d+)?)\s*(us|ms|s)\s*$", re.IGNORECASE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_slo(items: str | Iterable[str]) -> tuple[LatencyObjective, ...]:
    """``"p99=50ms"``, ``["p50=5ms", "p99=50ms"]`` or ``"p50=5ms,p99=50ms"`` -> objectives."""
    parts = [items] if isinstance(items, str) else list(items)
    objectives: dict[float, LatencyObjective] = {}
    for text in (p for item in parts for p in item.split(",") if p.strip()):
        m = _SLO.match(text)
        if not m:
            raise CapacityError(f"invalid SLO {text!r}: expected pNN=LIMIT with a unit us, ms or s (e.g. p99=50ms)")
        pct, limit = float(m.group(1)), float(m.group(2)) * _UNIT_MS[m.group(3).lower()]
        if not 0 < pct <= 100:
            raise CapacityError(f"invalid SLO {text!r}: the percentile must be in (0, 100]")
        if limit <= 0:
            raise CapacityError(f"invalid SLO {text!r}: the limit must be positive")
        if pct in objectives:
            raise CapacityError(f"invalid SLO {text!r}: p{pct:g} given twice")
        objectives[pct] = LatencyObjective(pct, limit)
    if not objectives:
        raise CapacityError("no SLO given: expected at least one pNN=LIMIT (e.g. p99=50ms)")
    return tuple(sorted(objectives.values(), key=lambda o: o.percentile))


def parse_error_budget(text: str) -> float:
    """``"0.1%"`` -> 0.001; ``"0.001"`` -> 0.001. The largest allowed ratio of failed requests."""
    s = text.strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise CapacityError(f"invalid error budget {text!r}: expected a ratio (0.001) or a percentage (0.1%)") from None
    if not 0 <= value <= 1:
        raise CapacityError(f"invalid error budget {text!r}: must be between 0 and 100%")
    return value


@dataclass(frozen=True)
class Slo:
    """Everything a trial is judged by."""

    latency: tuple[LatencyObjective, ...]
    error_budget: float = 0.0  # largest allowed error ratio
    min_throughput_ratio: float = 0.99  # achieved rate must be at least this share of the target


@dataclass(frozen=True)
class Trial:
    """One load at one rate, as judged against the SLO."""

    rate: float  # target requests per second
    phase: str  # "step-up", "step-down" or "bisect"
    passed: bool
    latency_ms: dict[str, float]  # "p99" -> milliseconds, for each objective
    error_ratio: float
    sent_rate: float
    achieved_rate: float
    failed: tuple[str, ...]  # constraints violated, e.g. ("latency p99", "throughput")
    excess: dict[str, float]  # constraint -> observed / allowed (> 1 when violated)
    limited_by: str | None  # when throughput failed: "generator" (sent late) or "server" (completed late)
    detail: str  # human-readable reason when failed, "" when passed


@dataclass(frozen=True)
class CapacityResult:
    slo: Slo
    capacity: float | None  # highest passing rate; None when no tried rate passed
    binding: str  # "latency p99", "error budget", "throughput", "max_rate reached", or "trial limit"
    trials: tuple[Trial, ...]
    converged: bool  # the answer is within ``precision`` of the first failing rate (or max_rate passed)
    precision: float
    max_rate: float


def judge(rate: float, result: RunResult, slo: Slo, phase: str = "step-up") -> Trial:
    """Pass/fail of one trial, with every violated constraint and by how much."""
    latency = {o.name: result.latency.get_value_at_percentile(o.percentile) / 1000.0 for o in slo.latency}
    duration = result.duration_s if result.duration_s > 0 else 0.0
    sent_rate = result.sent / duration if duration else 0.0
    achieved, ratio = result.achieved_rate, result.error_ratio
    excess: dict[str, float] = {}
    reasons: list[str] = []
    for o in slo.latency:
        excess[o.constraint] = latency[o.name] / o.limit_ms
        if latency[o.name] > o.limit_ms:
            reasons.append(f"{o.name} {latency[o.name]:.3g} ms > {o.limit_ms:g} ms")
    excess["error budget"] = ratio / slo.error_budget if slo.error_budget else (float("inf") if ratio else 0.0)
    if ratio > slo.error_budget:
        reasons.append(f"errors {ratio:.3%} > budget {slo.error_budget:.3%}")
    floor = rate * slo.min_throughput_ratio
    excess["throughput"] = floor / achieved if achieved else float("inf")
    limited_by = None
    if achieved < floor:
        # The generator fell behind its schedule, or it sent on time and the server fell behind.
        limited_by = "generator" if sent_rate < floor else "server"
        shown = sent_rate if limited_by == "generator" else achieved
        verb = "sent" if limited_by == "generator" else "completed"
        reasons.append(f"{limited_by} could not keep up: {verb} {shown:.4g}/s of {rate:.4g}/s")
    failed = tuple(c for c, x in excess.items() if x > 1.0)
    return Trial(rate, phase, not failed, latency, ratio, sent_rate, achieved, failed, excess,
                 limited_by, "; ".join(reasons))


def binding_constraint(trial: Trial) -> str:
    """The violated constraint with the largest relative excess (ties: SLO order, then errors, throughput)."""
    if not trial.failed:
        raise CapacityError("a passing trial has no binding constraint")
    return max(trial.failed, key=lambda c: trial.excess[c])


TrialFn = Callable[[float], Awaitable[RunResult]]


async def find_capacity(
    trial: TrialFn,
    *,
    start_rate: float,
    max_rate: float,
    slo: Slo | Iterable[LatencyObjective],
    error_budget: float | None = None,
    step_factor: float = 2.0,
    precision: float = 0.05,
    max_trials: int = 20,
    min_rate: float = 1.0,
    min_throughput_ratio: float = 0.99,
) -> CapacityResult:
    """Step up from ``start_rate`` by ``step_factor`` until a trial fails or ``max_rate`` passes, then
    bisect until ``(first_fail - last_pass) <= precision * last_pass``. When ``start_rate`` itself
    fails, step down (down to ``min_rate``) to find a passing rate first. Never runs more than
    ``max_trials`` trials; rates are tried in a deterministic order.
    """
    if not isinstance(slo, Slo):
        slo = Slo(tuple(slo), error_budget or 0.0, min_throughput_ratio)
    elif error_budget is not None:
        slo = Slo(slo.latency, error_budget, slo.min_throughput_ratio)
    if not 0 < min_rate <= start_rate <= max_rate:
        raise CapacityError(f"need 0 < min_rate <= start_rate <= max_rate (got {min_rate}, {start_rate}, {max_rate})")
    if step_factor <= 1 or precision <= 0 or max_trials < 1:
        raise CapacityError("need step_factor > 1, precision > 0 and max_trials >= 1")

    trials: list[Trial] = []

    async def run(rate: float, phase: str) -> Trial:
        t = judge(rate, await trial(rate), slo, phase)
        trials.append(t)
        return t

    passed: Trial | None = None
    failed: Trial | None = None
    first = await run(start_rate, "step-up")
    if first.passed:
        passed = first
        while passed.rate < max_rate and len(trials) < max_trials:
            t = await run(min(passed.rate * step_factor, max_rate), "step-up")
            if not t.passed:
                failed = t
                break
            passed = t
    else:
        failed = first
        while failed.rate > min_rate and len(trials) < max_trials:
            t = await run(max(failed.rate / step_factor, min_rate), "step-down")
            if t.passed:
                passed = t
                break
            failed = t

    while passed and failed and failed.rate - passed.rate > precision * passed.rate and len(trials) < max_trials:
        t = await run((passed.rate + failed.rate) / 2, "bisect")
        if t.passed:
            passed = t
        else:
            failed = t

    return _answer(slo, trials, passed, failed, precision, max_rate)


def _answer(slo: Slo, trials: list[Trial], passed: Trial | None, failed: Trial | None,
            precision: float, max_rate: float) -> CapacityResult:
    if passed is None:
        assert failed is not None
        return CapacityResult(slo, None, binding_constraint(failed), tuple(trials), False, precision, max_rate)
    if failed is None:
        done = passed.rate >= max_rate
        return CapacityResult(slo, passed.rate, "max_rate reached" if done else "trial limit",
                              tuple(trials), done, precision, max_rate)
    converged = failed.rate - passed.rate <= precision * passed.rate
    return CapacityResult(slo, passed.rate, binding_constraint(failed), tuple(trials), converged, precision, max_rate)
