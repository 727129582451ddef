"""OTLP exporters built from the config: traces and metrics, over gRPC or HTTP/protobuf.

Exporter modules are imported only when an endpoint is configured, so a gateway without OTLP
never loads them (nor their gRPC/HTTP stacks).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace.export import SpanExporter

from isthmus.config.model import MetricsConfig, OtlpExport, TracingConfig


def signal_url(endpoint: str, signal: Literal["traces", "metrics"]) -> str:
    """The HTTP exporter's URL: ``endpoint`` as given when it has a path, else ``endpoint/v1/<signal>``."""
    if urlsplit(endpoint).path.strip("/"):
        return endpoint
    return endpoint.rstrip("/") + f"/v1/{signal}"


def _grpc_headers(cfg: OtlpExport) -> dict[str, str]:
    return {k.lower(): v for k, v in cfg.headers.items()}  # gRPC metadata keys are lower-case


def span_exporter(cfg: TracingConfig) -> SpanExporter:
    assert cfg.otlp_endpoint is not None
    if cfg.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=cfg.otlp_endpoint, headers=_grpc_headers(cfg), timeout=cfg.timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(
        endpoint=signal_url(cfg.otlp_endpoint, "traces"), headers=dict(cfg.headers), timeout=cfg.timeout
    )


def metric_reader(cfg: MetricsConfig) -> MetricReader:
    """A reader pushing every ``export_interval`` (cumulative temporality, like the Prometheus one)."""
    assert cfg.otlp_endpoint is not None
    from isthmus.telemetry.producing import ProducingPeriodicReader

    exporter: object
    if cfg.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=cfg.otlp_endpoint, headers=_grpc_headers(cfg), timeout=cfg.timeout)
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

        exporter = HttpMetricExporter(
            endpoint=signal_url(cfg.otlp_endpoint, "metrics"), headers=dict(cfg.headers), timeout=cfg.timeout
        )
    return ProducingPeriodicReader(  # exports the pre-aggregated request histogram too
        exporter,  # type: ignore[arg-type]
        export_interval_millis=cfg.export_interval * 1000,
        export_timeout_millis=cfg.timeout * 1000,
    )
