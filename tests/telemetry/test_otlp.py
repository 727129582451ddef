"""OTLP export to a real (in-process) receiver, over gRPC and HTTP, and the install-order trap."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.metadata
from pathlib import Path

import pytest

from isthmus.config.model import MetricsConfig, TelemetryConfig, TracingConfig
from isthmus.telemetry import Telemetry
from isthmus.telemetry.otlp import signal_url


def test_every_opentelemetry_proto_file_on_disk_is_opentelemetry_protos_own():
    """xds-protos ships older copies of opentelemetry/proto/*; with those on disk the OTLP exporters
    cannot import (InstrumentationScope is missing). The Makefile reinstalls opentelemetry-proto last."""
    dist = importlib.metadata.distribution("opentelemetry-proto")
    checked = 0
    for f in dist.files or []:
        if not str(f).endswith("_pb2.py") or f.hash is None:
            continue
        data = Path(dist.locate_file(f)).read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f.hash.value, f"{f} is not opentelemetry-proto's copy: run make venv (it reinstalls it)"
        checked += 1
    assert checked >= 10


def test_the_exporters_import():
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    assert OTLPSpanExporter and OTLPMetricExporter and HttpSpanExporter


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/custom/path", "https://otel.example/custom/path"),
    ],
)
def test_http_signal_url(endpoint, url):
    assert signal_url(endpoint, "traces") == url


def _config(protocol: str, endpoint: str) -> TelemetryConfig:
    return TelemetryConfig(
        service_name="gw-test",
        tracing=TracingConfig(otlp_endpoint=endpoint, protocol=protocol, headers={"X-Token": "s3cret"}),
        metrics=MetricsConfig(otlp_endpoint=endpoint, protocol=protocol, export_interval=3600),
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_spans_and_metrics_reach_a_real_receiver(protocol, otlp_grpc, otlp_http):
    receiver = otlp_grpc if protocol == "grpc" else otlp_http
    telemetry = Telemetry.from_config(_config(protocol, receiver.endpoint))
    assert telemetry.tracer is not None
    with telemetry.tracer.start_as_current_span("one") as span:
        trace_id = span.get_span_context().trace_id
    telemetry.metrics.request_done("m", "a", "200", "http", "miss", 0.01)
    await telemetry.aclose()  # flushes spans and pushes metrics, off the event loop

    spans = receiver.spans()
    assert [s.name for s in spans] == ["one"]
    assert int.from_bytes(spans[0].trace_id, "big") == trace_id
    assert receiver.resources()[0]["service.name"] == "gw-test"
    assert "isthmus.request.duration" in receiver.metric_names()


async def test_metrics_are_pushed_every_export_interval(otlp_grpc):
    config = TelemetryConfig(metrics=MetricsConfig(otlp_endpoint=otlp_grpc.endpoint, export_interval="200ms"))
    telemetry = Telemetry.from_config(config)
    try:
        telemetry.metrics.request_done("m", "a", "200", "http", "miss", 0.01)
        assert await otlp_grpc.wait_metrics("isthmus.request.duration", timeout=10)
        assert telemetry.tracer is None  # metrics only: no traces
    finally:
        await telemetry.aclose()
    assert otlp_grpc.trace_requests == []


async def test_a_dead_collector_does_not_stop_the_gateway():
    """Exports to a port nobody listens on fail in the exporter's thread; recording goes on."""
    config = TelemetryConfig(tracing=TracingConfig(otlp_endpoint="http://127.0.0.1:9", timeout=0.2))
    telemetry = Telemetry.from_config(config)
    assert telemetry.tracer is not None
    with telemetry.tracer.start_as_current_span("lost"):
        pass
    telemetry.metrics.request_done("m", "a", "200", "http", "miss", 0.01)
    assert b"isthmus_request_duration_seconds_count" in telemetry.scrape()[0]
    await asyncio.wait_for(telemetry.aclose(), 30)  # gives up on the export, does not hang
