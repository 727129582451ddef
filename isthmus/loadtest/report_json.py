"""The machine-readable load-test report: a stable, versioned JSON document and its JSON Schema.

``build_report`` turns a RunResult (plus an optional capacity search and split check) into plain
JSON data; the HTML page and the terminal summary are both rendered from that document, so a
saved report can be re-rendered later. Every field is documented in docs/loadtest.md.
Within ``isthmus.loadtest/v1`` fields may be added, never removed or changed in meaning.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from hdrh.histogram import HdrHistogram

from isthmus.loadtest.capacity import CapacityResult
from isthmus.loadtest.errors import LoadTestError
from isthmus.loadtest.results import RunResult, new_histogram
from isthmus.loadtest.split import SplitCheck

SCHEMA_VERSION = "isthmus.loadtest/v1"
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


class ReportError(LoadTestError, ValueError):
    """A document that is not a report of a schema version this code reads."""


def latency_summary(h: HdrHistogram) -> dict[str, Any]:
    """Count, percentiles, max and mean in milliseconds; the values are null when nothing was recorded."""
    count = h.get_total_count()
    out: dict[str, Any] = {"count": count}
    for name, pct in PERCENTILES:
        out[name] = h.get_value_at_percentile(pct) / 1000.0 if count else None
    out["max"] = h.get_max_value() / 1000.0 if count else None
    out["mean"] = round(h.get_mean_value() / 1000.0, 6) if count else None
    return out


def _per_second(n: float, seconds: float) -> float | None:
    return n / seconds if seconds > 0 else None


def _interval(iv: Any, interval_s: float) -> dict[str, Any]:
    count = iv.latency.get_total_count()
    pct = {f"{name}_ms": (iv.latency.get_value_at_percentile(p) / 1000.0 if count else None)
           for name, p in PERCENTILES[:3]}
    errors = sum(iv.errors.values())
    return {
        "start_s": iv.start_s, "sent": iv.sent, "ok": iv.ok, "errors": errors,
        "errors_by_kind": dict(sorted(iv.errors.items())),
        "sent_rate": _per_second(iv.sent, interval_s), "completed_rate": _per_second(iv.ok + errors, interval_s),
        **pct, "max_ms": iv.latency.get_max_value() / 1000.0 if count else None,
    }


def _variants(result: RunResult) -> list[dict[str, Any]]:
    names = sorted(set(result.variant_counts) | set(result.variants))
    counted = sum(result.variant_counts.values())
    return [
        {"name": name, "count": result.variant_counts.get(name, 0),
         "share": result.variant_counts.get(name, 0) / counted if counted else None,
         "latency_ms": latency_summary(result.variants[name]) if name in result.variants
         else latency_summary(new_histogram())}
        for name in names
    ]


def capacity_section(cap: CapacityResult) -> dict[str, Any]:
    return {
        "slo": {
            "latency": [{"name": o.name, "percentile": o.percentile, "limit_ms": o.limit_ms} for o in cap.slo.latency],
            "error_budget": cap.slo.error_budget,
            "min_throughput_ratio": cap.slo.min_throughput_ratio,
        },
        "capacity_rps": cap.capacity, "binding": cap.binding, "converged": cap.converged,
        "precision": cap.precision, "max_rate": cap.max_rate,
        "trials": [
            {"rate": t.rate, "phase": t.phase, "passed": t.passed, "latency_ms": dict(t.latency_ms),
             "error_ratio": t.error_ratio, "sent_rate": t.sent_rate, "achieved_rate": t.achieved_rate,
             "failed": list(t.failed), "limited_by": t.limited_by, "detail": t.detail}
            for t in cap.trials
        ],
    }


def split_section(check: SplitCheck) -> dict[str, Any]:
    return {
        "confidence": check.confidence, "total": check.total, "consistent": check.consistent,
        "chi_square": check.chi_square, "df": check.df, "p_value": check.p_value, "small_sample": check.small_sample,
        "variants": [
            {"name": v.name, "weight": v.weight, "configured_share": v.configured_share, "count": v.count,
             "observed_share": v.observed_share, "ci_low": v.ci_low, "ci_high": v.ci_high, "inside": v.inside}
            for v in check.variants
        ],
        "unexpected": dict(check.unexpected),
    }


def build_report(result: RunResult, *, capacity: CapacityResult | None = None,
                 split: SplitCheck | None = None) -> dict[str, Any]:
    """The v1 report of one run (for a capacity search: normally its last passing trial's run)."""
    errors = sum(result.errors.values())
    completed = result.ok + errors
    started = datetime.fromtimestamp(result.started_at, tz=timezone.utc)
    return {
        "schema": SCHEMA_VERSION,
        "run": {
            "target": result.target, "profile": result.profile, "started_at": result.started_at,
            "started_at_iso": started.isoformat().replace("+00:00", "Z"),
            "duration_s": result.duration_s, "interval_s": result.interval_s,
        },
        "totals": {"intended": result.intended, "sent": result.sent, "ok": result.ok,
                   "errors": errors, "completed": completed},
        "rate": {"target": _per_second(result.intended, result.duration_s),
                 "sent": _per_second(result.sent, result.duration_s),
                 "achieved": _per_second(completed, result.duration_s),
                 "ok": _per_second(result.ok, result.duration_s)},
        "error_ratio": result.error_ratio,
        "errors": dict(sorted(result.errors.items())),
        "latency_ms": latency_summary(result.latency),
        "service_time_ms": latency_summary(result.service_time),
        "variants": _variants(result),
        "intervals": [_interval(iv, result.interval_s) for iv in result.intervals],
        "capacity": capacity_section(capacity) if capacity else None,
        "split": split_section(split) if split else None,
    }


def dumps(report: dict[str, Any]) -> str:
    """Pretty JSON; refuses NaN and infinities, which JSON cannot carry."""
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def loads(text: str) -> dict[str, Any]:
    """A report read back from JSON text; refuses documents of another schema version."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ReportError(f"not an {SCHEMA_VERSION} report (schema: {found!r})")
    return doc


# ---- JSON Schema (draft 2020-12) -------------------------------------------------------------

def _obj(props: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props) if required else [],
            "additionalProperties": False}


def _t(*types: str) -> dict[str, Any]:
    return {"type": list(types) if len(types) > 1 else types[0]}


def _counts() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}


def _latency() -> dict[str, Any]:
    nullable_ms = {"type": ["number", "null"], "minimum": 0}
    return _obj({"count": {"type": "integer", "minimum": 0},
                 **{name: nullable_ms for name, _ in PERCENTILES}, "max": nullable_ms, "mean": nullable_ms})


def report_schema() -> dict[str, Any]:
    """The JSON Schema of a v1 report (a fresh dict on every call)."""
    num, nnum, ratio = _t("number"), _t("number", "null"), {"type": "number", "minimum": 0, "maximum": 1}
    nint = {"type": "integer", "minimum": 0}
    nullable_ratio = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
    trial = _obj({
        "rate": num, "phase": {"enum": ["step-up", "step-down", "bisect"]}, "passed": _t("boolean"),
        "latency_ms": {"type": "object", "additionalProperties": num}, "error_ratio": ratio,
        "sent_rate": num, "achieved_rate": num, "failed": {"type": "array", "items": _t("string")},
        "limited_by": {"enum": ["generator", "server", None]}, "detail": _t("string"),
    })
    capacity = _obj({
        "slo": _obj({
            "latency": {"type": "array", "items": _obj({"name": _t("string"), "percentile": num, "limit_ms": num})},
            "error_budget": ratio, "min_throughput_ratio": ratio,
        }),
        "capacity_rps": nnum, "binding": _t("string"), "converged": _t("boolean"), "precision": num,
        "max_rate": num, "trials": {"type": "array", "items": trial},
    })
    split = _obj({
        "confidence": ratio, "total": nint, "consistent": _t("boolean"), "chi_square": nnum,
        "df": nint, "p_value": nullable_ratio, "small_sample": _t("boolean"),
        "variants": {"type": "array", "items": _obj({
            "name": _t("string"), "weight": num, "configured_share": ratio, "count": nint,
            "observed_share": nullable_ratio, "ci_low": ratio, "ci_high": ratio, "inside": _t("boolean"),
        })},
        "unexpected": _counts(),
    })
    interval = _obj({
        "start_s": num, "sent": nint, "ok": nint, "errors": nint, "errors_by_kind": _counts(),
        "sent_rate": nnum, "completed_rate": nnum, "p50_ms": nnum, "p90_ms": nnum, "p99_ms": nnum, "max_ms": nnum,
    })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://isthmus.dev/schemas/loadtest-report-v1.json",
        "title": "Isthmus load-test report",
        **_obj({
            "schema": {"const": SCHEMA_VERSION},
            "run": _obj({"target": _t("string"), "profile": _t("object"), "started_at": num,
                         "started_at_iso": _t("string"), "duration_s": num, "interval_s": num}),
            "totals": _obj({k: nint for k in ("intended", "sent", "ok", "errors", "completed")}),
            "rate": _obj({k: nnum for k in ("target", "sent", "achieved", "ok")}),
            "error_ratio": ratio,
            "errors": _counts(),
            "latency_ms": _latency(),
            "service_time_ms": _latency(),
            "variants": {"type": "array", "items": _obj({"name": _t("string"), "count": nint,
                                                         "share": nullable_ratio, "latency_ms": _latency()})},
            "intervals": {"type": "array", "items": interval},
            "capacity": {"anyOf": [capacity, {"type": "null"}]},
            "split": {"anyOf": [split, {"type": "null"}]},
        }),
    }
