"""Metrics: the one hot-path measurement, rare counters, observed values, the private registry."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from isthmus.telemetry.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, frozenset], float]:
    body, _ = metrics.scrape()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def test_request_done_counts_each_attribute_set_and_its_duration():
    m = Metrics(Resource({"service.name": "t"}))
    for _ in range(3):
        m.request_done("m", "a", "200", "http", "miss", 0.002)
    m.request_done("m", "b", "200", "http", "hit", 0.0004)
    m.request_done("m", "a", "504", "grpc", "-", 2.0)
    labels = {"model": "m", "variant": "a", "status": "200", "transport": "http", "cache": "miss"}
    assert value(m, "isthmus_request_duration_seconds_count", **labels) == 3
    assert value(m, "isthmus_request_duration_seconds_sum", **labels) == 0.006
    assert value(m, "isthmus_request_duration_seconds_bucket", **labels, le="0.001") == 0
    assert value(m, "isthmus_request_duration_seconds_bucket", **labels, le="0.0025") == 3
    assert value(m, "isthmus_request_duration_seconds_count", model="m", variant="b", status="200",
                 transport="http", cache="hit") == 1  # fmt: skip
    assert value(m, "isthmus_request_duration_seconds_count", model="m", variant="a", status="504",
                 transport="grpc", cache="-") == 1  # fmt: skip
    m.close()


def test_rare_events_are_counters():
    m = Metrics(Resource({}))
    m.request_failed("m", "a", "backend_timeout", "http")
    m.request_failed("m", "a", "backend_timeout", "http")
    m.fell_back("m", "a", "b")
    assert value(m, "isthmus_request_errors_total", model="m", variant="a", kind="backend_timeout", transport="http") == 2
    assert value(m, "isthmus_fallback_activations_total", model="m", variant="a", fallback="b") == 1
    m.close()


def test_observed_values_are_read_at_each_scrape_from_every_source():
    m = Metrics(Resource({}))
    box = {"http": 0, "grpc": 0}
    m.observe("isthmus.requests.in_flight", lambda: [(box["http"], {"transport": "http"})],
              kind="gauge", unit="{request}", description="d")  # fmt: skip
    m.observe("isthmus.requests.in_flight", lambda: [(box["grpc"], {"transport": "grpc"})],
              kind="gauge", unit="{request}", description="d")  # fmt: skip
    m.observe("isthmus.cache.hits", lambda: [(box["http"] * 10, {"tier": "l1"})],
              kind="counter", unit="{hit}", description="d")  # fmt: skip
    box.update(http=3, grpc=1)
    assert value(m, "isthmus_requests_in_flight", transport="http") == 3
    assert value(m, "isthmus_requests_in_flight", transport="grpc") == 1
    assert value(m, "isthmus_cache_hits_total", tier="l1") == 30
    box.update(http=4)
    assert value(m, "isthmus_cache_hits_total", tier="l1") == 40
    m.close()


def test_each_metrics_object_has_its_own_registry_never_the_global_one():
    before = set(REGISTRY._collector_to_names)
    one, two = Metrics(Resource({})), Metrics(Resource({}))
    one.request_done("m", "a", "200", "http", "miss", 0.1)
    assert value(one, "isthmus_request_duration_seconds_count", model="m", variant="a", status="200",
                 transport="http", cache="miss") == 1  # fmt: skip
    assert not any(name.startswith("isthmus_request_duration") for name, _ in samples(two))
    assert set(REGISTRY._collector_to_names) == before
    one.close()
    two.close()
    assert samples(one) == {}  # closed: the collector left its registry


def test_openmetrics_when_asked():
    m = Metrics(Resource({}))
    m.request_done("m", "a", "200", "http", "miss", 0.1)
    body, content_type = m.scrape("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    assert m.scrape()[1].startswith("text/plain")
    m.close()


def test_disabled_metrics_record_into_nothing():
    m = Metrics(Resource({}), prometheus=False)
    m.request_done("m", "a", "200", "http", "miss", 0.1)
    assert m.scrape()[0] == b""
    m.close()


def test_concurrent_scrapes_each_get_one_whole_exposition():
    """/metrics scrapes run in threads (admin handlers): two at once must not share one collection.

    The Prometheus reader's collector queues each collection and drains the whole queue, so a
    scrape that drained while another's collection was queued would print every family twice
    (an exposition Prometheus rejects) and leave the other scrape an empty body.
    """
    import threading

    m = Metrics(Resource({"service.name": "t"}))
    m.request_done("m", "a", "200", "http", "-", 0.002)
    collector = next(iter(m.registry._collector_to_names))  # the reader's collector (private: the hook)
    queued, other_done = threading.Event(), threading.Event()
    add = collector.add_metrics_data

    def add_then_pause(data):  # the first scrape pauses right after queueing its collection
        add(data)
        if not queued.is_set():
            queued.set()
            other_done.wait(1.0)

    collector.add_metrics_data = add_then_pause
    bodies: dict[str, bytes] = {}
    first = threading.Thread(target=lambda: bodies.__setitem__("first", m.scrape()[0]))
    first.start()
    assert queued.wait(5.0)
    bodies["second"] = m.scrape()[0]
    other_done.set()
    first.join(5.0)
    for name, body in bodies.items():
        text = body.decode()
        assert text.count("# TYPE isthmus_build_info gauge") == 1, (name, text)
        assert text.count("isthmus_request_duration_seconds_count{") == 1, (name, text)
    m.close()
