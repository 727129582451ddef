"""The pre-aggregated request histogram and the readers that export it (Prometheus and OTLP data)."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from isthmus.telemetry.producing import ProducingPrometheusReader, merged
from isthmus.telemetry.request_histogram import RequestHistogram

NAMES = ("model", "variant")
SCOPE = InstrumentationScope("isthmus", "0")


def histogram(**kw) -> RequestHistogram:
    clock = iter(range(1_000, 10**9, 1_000))
    return RequestHistogram("isthmus.request.duration", "s", "d", (0.001, 0.01, 0.1), NAMES, clock_ns=lambda: next(clock), **kw)


def point(h: RequestHistogram, **attrs: str) -> HistogramDataPoint:
    metric = h.metric()
    assert metric is not None
    (found,) = [p for p in metric.data.data_points if dict(p.attributes) == attrs]
    return found


def test_buckets_are_upper_inclusive_like_otel():
    h = histogram()
    for v in (0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 3.0):
        h.record(v, ("m", "a"))
    p = point(h, model="m", variant="a")
    assert list(p.bucket_counts) == [2, 2, 2, 1]
    assert p.count == 7 and p.sum == pytest.approx(3.1626)
    assert (p.min, p.max) == (0.0005, 3.0)
    assert list(p.explicit_bounds) == [0.001, 0.01, 0.1]


def test_series_per_attribute_set_and_counts():
    h = histogram()
    for _ in range(9):
        h.record(0.002, ("m", "a"))
    h.record(0.002, ("m", "b"))
    assert point(h, model="m", variant="a").count == 9
    assert point(h, model="m", variant="b").count == 1
    metric = h.metric()
    assert metric is not None and len(metric.data.data_points) == 2  # no series for variant c
    assert not [p for p in metric.data.data_points if p.attributes["variant"] == "c"]


def test_nothing_recorded_is_no_metric():
    assert histogram().metric() is None


def test_wrong_key_length_is_refused():
    with pytest.raises(ValueError, match="expected values"):
        histogram().record(0.1, ("m",))


def test_bounds_must_increase():
    with pytest.raises(ValueError):
        RequestHistogram("x", "s", "", (0.1, 0.01), NAMES)


def test_cardinality_overflow_keeps_every_count():
    h = histogram(max_series=2)
    for v in "abcd":
        h.record(0.05, ("m", v))
    metric = h.metric()
    assert metric is not None
    assert sum(p.count for p in metric.data.data_points) == 4
    overflow = [p for p in metric.data.data_points if p.attributes.get("otel.metric.overflow")]
    assert overflow and overflow[0].count == 2


def test_cumulative_with_a_fixed_start_time():
    h = histogram()
    h.record(0.05, ("m", "a"))
    first = point(h, model="m", variant="a")
    h.record(0.05, ("m", "a"))
    second = point(h, model="m", variant="a")
    assert second.start_time_unix_nano == first.start_time_unix_nano
    assert second.time_unix_nano > first.time_unix_nano
    assert (first.count, second.count) == (1, 2)


def test_merged_adds_to_the_gateway_scope_and_keeps_the_rest():
    provider = MeterProvider(metric_readers=[reader := InMemoryMetricReader()], resource=Resource({"service.name": "t"}))
    provider.get_meter("isthmus", "0").create_counter("isthmus.other").add(1)
    provider.get_meter("elsewhere").create_counter("other.scope").add(1)
    h = histogram()
    h.record(0.05, ("m", "a"))
    data = merged(reader.get_metrics_data(), [h], SCOPE, Resource({}))
    assert isinstance(data, MetricsData)
    scopes = {sm.scope.name: [m.name for m in sm.metrics] for sm in data.resource_metrics[0].scope_metrics}
    assert scopes["isthmus"] == ["isthmus.other", "isthmus.request.duration"]
    assert scopes["elsewhere"] == ["other.scope"]
    assert data.resource_metrics[0].resource.attributes["service.name"] == "t"
    provider.shutdown()


def test_merged_without_other_data_builds_it():
    h = histogram()
    h.record(0.05, ("m", "a"))
    data = merged(None, [h], SCOPE, Resource({"service.name": "t"}))
    assert data is not None
    assert data.resource_metrics[0].scope_metrics[0].metrics[0].name == "isthmus.request.duration"


def test_prometheus_exposition_matches_exactly():
    registry = CollectorRegistry(auto_describe=False)
    reader = ProducingPrometheusReader(registry=registry, scope_info_enabled=False)
    resource = Resource({"service.name": "t"})
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    # the SDK hands a reader nothing when it has no data point of its own: the gateway always has gauges
    provider.get_meter("isthmus").create_observable_gauge("isthmus.up", callbacks=[lambda o: [Observation(1)]])
    h = histogram()
    reader.attach([h], SCOPE, resource)
    for v in (0.0005, 0.005, 0.005, 0.5):
        h.record(v, ("m", "a"))
    h.record(0.05, ("m", "b"))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    fam = families["isthmus_request_duration_seconds"]
    assert fam.type == "histogram"
    got = {
        (s.labels["variant"], s.labels.get("le")): s.value
        for s in fam.samples
        if s.name.endswith("_bucket") or s.name.endswith("_count")
    }
    assert got[("a", "0.001")] == 1 and got[("a", "0.01")] == 3 and got[("a", "0.1")] == 3 and got[("a", "+Inf")] == 4
    assert got[("b", "0.1")] == 1
    counts = {s.labels["variant"]: s.value for s in fam.samples if s.name.endswith("_count")}
    assert counts == {"a": 4, "b": 1}
    provider.shutdown()


def test_snapshot_while_another_thread_records_stays_consistent():
    h = histogram()
    stop = threading.Event()

    def hammer() -> None:
        i = 0
        while not stop.is_set():
            h.record(0.005, ("m", str(i % 50)))
            i += 1

    t = threading.Thread(target=hammer)
    t.start()
    try:
        for _ in range(200):
            metric = h.metric()
            if metric is not None:
                for p in metric.data.data_points:
                    assert p.count == sum(p.bucket_counts)
    finally:
        stop.set()
        t.join()


def test_totals_count_sum_and_time_of_the_last_record():
    ticks = iter([5, 10, 20, 30])  # the first tick is the histogram's start time
    h = RequestHistogram("x", "s", "d", (0.001, 0.01), NAMES, clock_ns=lambda: next(ticks))
    h.record(0.002, ("m", "a"))
    h.record(0.5, ("m", "a"))
    h.record(0.0001, ("m", "b"))
    totals = h.totals()
    assert totals[("m", "a")][0] == 2 and totals[("m", "a")][1] == pytest.approx(0.502)
    assert totals[("m", "a")][2] == 20 and totals[("m", "b")] == (1, 0.0001, 30)
