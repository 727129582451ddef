"""Canary split check: the observed share of each variant against its configured weight.

Counts come from the ``x-isthmus-backend`` response header (``RunResult.variant_counts``).
Each variant gets a Wilson score interval for its observed share; the split as a whole gets a
chi-square goodness-of-fit test. Pure functions; the statistics need only the standard library.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Mapping

from isthmus.config import Config
from isthmus.loadtest.errors import LoadTestError


class SplitError(LoadTestError, ValueError):
    """Bad weights, or a config with no route to take them from."""


_WEIGHT = re.compile(r"^\s*([A-Za-z0-9._-]+)\s*=\s*(\d+(?:\.\d+)?)\s*$")


def parse_weights(text: str) -> dict[str, float]:
    """``"a=90,b=10"`` -> ``{"a": 90.0, "b": 10.0}``; any positive total."""
    weights: dict[str, float] = {}
    for part in (p for p in text.split(",") if p.strip()):
        m = _WEIGHT.match(part)
        if not m:
            raise SplitError(f"invalid weight {part!r}: expected NAME=WEIGHT (e.g. a=90,b=10)")
        if m.group(1) in weights:
            raise SplitError(f"invalid weights {text!r}: {m.group(1)} given twice")
        weights[m.group(1)] = float(m.group(2))
    if not weights or sum(weights.values()) <= 0:
        raise SplitError(f"invalid weights {text!r}: need at least one variant and a positive total")
    return weights


def weights_from_config(config: Config, model: str | None = None) -> dict[str, float]:
    """The variants (backend -> weight) of ``model``'s route; ``model`` may be left out when there is one route."""
    routes = {r.model: r for r in config.routes}
    if model is None:
        if len(routes) != 1:
            raise SplitError(f"the config has {len(routes)} routes; name the model (one of: {', '.join(routes) or '-'})")
        (route,) = routes.values()
    elif model in routes:
        route = routes[model]
    else:
        raise SplitError(f"no route for model {model!r} (routes: {', '.join(routes) or '-'})")
    return {v.backend: float(v.weight) for v in route.variants}


def wilson_interval(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n at a two-sided ``confidence``."""
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = k / n, z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, center - half)
    return low, 1.0 if k == n else min(1.0, center + half)


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-square(df): the regularized upper incomplete gamma Q(df/2, x/2)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if x <= 0:
        return 1.0
    a, y = df / 2.0, x / 2.0
    log_front = -y + a * math.log(y) - math.lgamma(a)
    if y < a + 1:  # series for P(a, y), converges fast here
        term = total = 1.0 / a
        n = 0
        while abs(term) > abs(total) * 1e-15 and n < 10_000:
            n += 1
            term *= y / (a + n)
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300  # continued fraction for Q(a, y), modified Lentz
    b = y + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)


@dataclass(frozen=True)
class VariantShare:
    name: str
    weight: float
    configured_share: float
    count: int
    observed_share: float | None  # None when nothing was counted
    ci_low: float
    ci_high: float
    inside: bool  # the configured share lies inside [ci_low, ci_high]


@dataclass(frozen=True)
class SplitCheck:
    confidence: float
    total: int  # responses from configured variants
    variants: tuple[VariantShare, ...]
    unexpected: dict[str, int]  # responses from backends not in the weights (fallback, "-")
    chi_square: float | None  # over variants with a positive weight; None with fewer than two
    df: int
    p_value: float | None
    consistent: bool  # p >= 1 - confidence, and no zero-weight variant was reached
    small_sample: bool  # some expected count below 5: the chi-square p-value is only approximate


def check_split(counts: Mapping[str, int], weights: Mapping[str, float], confidence: float = 0.99) -> SplitCheck:
    """Compare observed ``counts`` per variant with configured ``weights`` (any positive total)."""
    if not 0 < confidence < 1:
        raise SplitError(f"confidence must be between 0 and 1 (got {confidence})")
    total_weight = sum(weights.values())
    if not weights or total_weight <= 0 or any(w < 0 for w in weights.values()):
        raise SplitError("weights must be non-negative with a positive total")
    n = sum(counts.get(name, 0) for name in weights)
    rows = []
    for name, weight in weights.items():
        k = counts.get(name, 0)
        share = weight / total_weight
        low, high = wilson_interval(k, n, confidence)
        rows.append(VariantShare(name, weight, share, k, k / n if n else None, low, high, low <= share <= high))
    unexpected = {name: c for name, c in sorted(counts.items()) if name not in weights and c}
    live = [r for r in rows if r.weight > 0]
    chi = p = None
    if len(live) >= 2 and n > 0:
        chi = sum((r.count - n * r.configured_share) ** 2 / (n * r.configured_share) for r in live)
        p = chi2_sf(chi, len(live) - 1)
    dead_reached = any(r.weight == 0 and r.count > 0 for r in rows)
    consistent = n > 0 and not dead_reached and (p is None or p >= 1 - confidence)
    small = any(n * r.configured_share < 5 for r in live)
    return SplitCheck(confidence, n, tuple(rows), unexpected, chi, max(len(live) - 1, 0), p, consistent, small)
