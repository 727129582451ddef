"""Telemetry objects for tests: spans kept in memory, Prometheus samples as a dict."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from isthmus.config.model import TracingConfig
from isthmus.telemetry import Telemetry
from isthmus.telemetry.access_log import AccessLog
from isthmus.telemetry.metrics import Metrics
from isthmus.telemetry.tracing import Tracing


def traced_telemetry(sample_ratio: float = 1.0, access_log: AccessLog | None = None) -> tuple[Telemetry, InMemorySpanExporter]:
    resource = Resource({"service.name": "test"})
    spans = InMemorySpanExporter()
    tracing = Tracing(TracingConfig(sample_ratio=sample_ratio), resource, processor=SimpleSpanProcessor(spans))
    return Telemetry(Metrics(resource), tracing, access_log), spans


def plain_telemetry(access_log: AccessLog | None = None) -> Telemetry:
    return Telemetry(Metrics(Resource({"service.name": "test"})), None, access_log)


def scraped(telemetry: Telemetry) -> dict[tuple[str, frozenset], float]:
    body, _ = telemetry.scrape()
    return parse(body.decode())


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def series(samples: dict[tuple[str, frozenset], float], name: str, **match: str) -> dict[frozenset, float]:
    """Samples of ``name`` whose labels include ``match``: labels -> value."""
    want = set(match.items())
    return {labels: v for (n, labels), v in samples.items() if n == name and want <= labels}


def requests_by(samples: dict[tuple[str, frozenset], float], label: str, **match: str) -> dict[str, float]:
    """``isthmus_request_duration_seconds_count`` summed by one label."""
    out: dict[str, float] = {}
    for labels, v in series(samples, "isthmus_request_duration_seconds_count", **match).items():
        key = dict(labels)[label]
        out[key] = out.get(key, 0) + v
    return out
