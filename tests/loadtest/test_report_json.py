"""The v1 JSON report: values from known histograms, round trips, and the JSON Schema."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import jsonschema
import pytest

from isthmus.loadtest.capacity import CapacityResult, find_capacity, parse_slo
from isthmus.loadtest.report_json import (
    SCHEMA_VERSION,
    ReportError,
    build_report,
    dumps,
    loads,
    report_schema,
)
from isthmus.loadtest.results import Interval, RunResult, new_histogram
from isthmus.loadtest.split import SplitCheck, check_split

DOCS = Path(__file__).resolve().parents[2] / "docs" / "loadtest.md"


def synthetic_run(seconds: int = 30, rate: int = 200, *, started_at: float = 1_700_000_000.0) -> RunResult:
    """A run at ``rate``/s split 90/10 between v1 (~4 ms) and v2 (~9 ms); latency climbs after second 20."""
    res = RunResult(target="http://127.0.0.1:8080/v2/models/demo/infer", profile={"kind": "constant", "rate": rate},
                    started_at=started_at, duration_s=float(seconds))
    for s in range(seconds):
        iv = Interval(float(s))
        slow = 1 + max(0, s - 20) * 0.5
        for i in range(rate):
            iv.sent += 1
            if i % 100 == 99:
                iv.errors["timeout" if s % 2 else "http_503"] += 1
                continue
            variant = "demo-v2" if i % 10 == 0 else "demo-v1"
            us = int((9000 if variant == "demo-v2" else 4000) * slow + (i % 17) * 100)
            iv.ok += 1
            iv.latency.record_value(us)
            res.latency.record_value(us)
            res.service_time.record_value(us - 300)
            res.variants.setdefault(variant, new_histogram()).record_value(us)
            res.variant_counts[variant] += 1
        res.intended += rate
        res.sent += iv.sent
        res.ok += iv.ok
        res.errors.update(iv.errors)
        res.intervals.append(iv)
    return res


def synthetic_capacity() -> CapacityResult:
    """A capacity search against a server whose p99 passes 50 ms above 900/s."""

    async def trial(rate: float) -> RunResult:
        res = RunResult(target="t", profile={"rate": rate}, started_at=0.0, duration_s=10.0)
        n = int(rate * 10)
        p99_us = int(8000 + 40_000 * (rate / 900) ** 4)
        res.latency.record_value(3000, n - n // 50)
        res.latency.record_value(p99_us, n // 50)
        res.intended = res.sent = res.ok = n
        return res

    return asyncio.run(find_capacity(trial, start_rate=50, max_rate=5000, slo=parse_slo("p50=20ms,p99=50ms"),
                                     error_budget=0.001))


def synthetic_split(run: RunResult) -> SplitCheck:
    return check_split(run.variant_counts, {"demo-v1": 90, "demo-v2": 10})


def validate(doc: dict) -> None:
    jsonschema.Draft202012Validator(report_schema()).validate(doc)


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(report_schema())


def test_values_from_known_histograms() -> None:
    run = synthetic_run()
    doc = build_report(run)
    assert doc["schema"] == SCHEMA_VERSION == "isthmus.loadtest/v1"
    assert doc["totals"] == {"intended": 6000, "sent": 6000, "ok": 5940, "errors": 60, "completed": 6000}
    assert doc["rate"]["target"] == pytest.approx(200) and doc["rate"]["ok"] == pytest.approx(198)
    assert doc["errors"] == {"http_503": 30, "timeout": 30}
    assert doc["error_ratio"] == pytest.approx(0.01)
    assert doc["latency_ms"]["p50"] == pytest.approx(run.latency.get_value_at_percentile(50) / 1000)
    assert doc["latency_ms"]["max"] == pytest.approx(9000 * 5.5 / 1000 + 1.6, rel=1e-3)
    assert doc["latency_ms"]["count"] == 5940
    assert doc["service_time_ms"]["p50"] < doc["latency_ms"]["p50"]
    v1, v2 = doc["variants"]
    assert (v1["name"], v2["name"]) == ("demo-v1", "demo-v2") and v1["count"] + v2["count"] == 5940
    assert v2["latency_ms"]["p50"] > v1["latency_ms"]["p50"]
    assert len(doc["intervals"]) == 30
    first, last = doc["intervals"][0], doc["intervals"][-1]
    assert first["sent_rate"] == 200 and first["completed_rate"] == 200 and first["errors_by_kind"] == {"http_503": 2}
    assert last["p99_ms"] > 4 * first["p99_ms"]
    assert doc["run"]["started_at_iso"] == "2023-11-14T22:13:20Z"
    assert doc["capacity"] is None and doc["split"] is None
    validate(doc)


def test_round_trip_through_json_and_wire() -> None:
    run = synthetic_run()
    doc = build_report(run, capacity=synthetic_capacity(), split=synthetic_split(run))
    text = dumps(doc)
    assert loads(text) == doc
    assert json.loads(text) == json.loads(dumps(loads(text)))
    assert build_report(RunResult.from_wire(json.loads(json.dumps(run.to_wire())))) == build_report(run)
    validate(loads(text))


def test_capacity_and_split_sections() -> None:
    run = synthetic_run()
    doc = build_report(run, capacity=synthetic_capacity(), split=synthetic_split(run))
    cap = doc["capacity"]
    assert cap["binding"] == "latency p99" and cap["converged"]
    assert 855 <= cap["capacity_rps"] <= 1000
    assert [o["name"] for o in cap["slo"]["latency"]] == ["p50", "p99"]
    assert all(set(t["latency_ms"]) == {"p50", "p99"} for t in cap["trials"])
    assert any(not t["passed"] and t["failed"] == ["latency p99"] for t in cap["trials"])
    split = doc["split"]
    assert split["consistent"] and split["df"] == 1 and [v["name"] for v in split["variants"]] == ["demo-v1", "demo-v2"]
    validate(doc)


def test_empty_run_validates_with_nulls() -> None:
    doc = build_report(RunResult(target="t", profile={}, started_at=0.0, duration_s=0.0))
    assert doc["latency_ms"] == {"count": 0, "p50": None, "p90": None, "p99": None, "p99.9": None,
                                 "max": None, "mean": None}
    assert doc["rate"]["achieved"] is None and doc["variants"] == [] and doc["intervals"] == []
    validate(doc)


def test_schema_rejects_drift() -> None:
    doc = build_report(synthetic_run(5))
    for broken in (
        {**doc, "surprise": 1},
        {**doc, "schema": "isthmus.loadtest/v2"},
        {**doc, "latency_ms": {**doc["latency_ms"], "p99": "12ms"}},
        {k: v for k, v in doc.items() if k != "totals"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_loads_refuses_other_versions() -> None:
    with pytest.raises(ReportError, match="v1"):
        loads('{"schema": "isthmus.loadtest/v2"}')
    with pytest.raises(ReportError):
        loads("[1, 2]")


def _field_paths(schema: dict, prefix: str = "") -> set[str]:
    """Every named property in the schema, as dotted paths (array items with ``[]``)."""
    paths: set[str] = set()
    for option in schema.get("anyOf", []):
        paths |= _field_paths(option, prefix)
    if "items" in schema:
        paths |= _field_paths(schema["items"], prefix + "[]")
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        paths.add(path)
        paths |= _field_paths(sub, path)
    return paths


def test_every_field_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_][\w.\[\]]*)`", text))
    # service_time_ms and each variant's latency_ms have the same fields as latency_ms, documented once
    same = re.compile(r"^(service_time_ms|variants\[\]\.latency_ms)\.")
    missing = sorted(p for p in _field_paths(report_schema()) if same.sub("latency_ms.", p) not in documented)
    assert not missing, f"fields not documented in docs/loadtest.md: {missing}"
