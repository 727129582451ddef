"""Traces: a TracerProvider of its own (never the global one), W3C propagation, span details.

Built only when ``telemetry.tracing.otlp_endpoint`` is set: otherwise the gateway has no tracer
and its request path makes no span and attaches no context (``tracer is None``, one check).
Sampling is parent-based: the app's sampled flag is followed; new traces are sampled at
``sample_ratio``. Spans are batched and exported off the event loop (BatchSpanProcessor).
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from isthmus import __version__
from isthmus.config.model import BackendConfig, TracingConfig

_PROPAGATOR = TraceContextTextMapPropagator()  # stateless


class Tracing:
    def __init__(self, config: TracingConfig, resource: Resource, processor: SpanProcessor | None = None) -> None:
        """``processor``: where finished spans go (default: batched to the configured OTLP endpoint)."""
        if processor is None:
            from isthmus.telemetry.otlp import span_exporter

            processor = BatchSpanProcessor(span_exporter(config))
        self.provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)), resource=resource, shutdown_on_exit=False
        )
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("isthmus", __version__)
        self._closed = False

    @staticmethod
    def extract(carrier: Mapping[str, str]) -> Context:
        """The app's trace context from its headers (or gRPC metadata); names are lower-case."""
        return _PROPAGATOR.extract(carrier)

    @staticmethod
    def inject(carrier: dict[str, str]) -> dict[str, str]:
        """``carrier`` with the current span's ``traceparent`` (and ``tracestate``) set."""
        _PROPAGATOR.inject(carrier)
        return carrier

    def flush(self, timeout: float = 5.0) -> bool:
        return self.provider.force_flush(int(timeout * 1000))

    def close(self) -> None:
        """Export what is buffered and stop (blocks: call it off the event loop)."""
        if not self._closed:
            self._closed = True
            self.provider.shutdown()


# Backend call spans, per OTel semantic conventions for HTTP and RPC clients.
_GRPC_METHODS = {
    "kserve-v2-grpc": ("inference.GRPCInferenceService", "ModelInfer"),
    "tfserving-grpc": ("tensorflow.serving.PredictionService", "Predict"),
}


def backend_span(config: BackendConfig) -> tuple[str, SpanKind, dict[str, str | int]]:
    """Name, kind and attributes of the span of a call to the backend ``config`` describes.

    ``server.address``/``server.port`` name the first endpoint (calls rotate over all of them).
    """
    attrs: dict[str, str | int] = {"isthmus.backend": config.name, "isthmus.backend.protocol": config.protocol}
    endpoints = getattr(config, "endpoints", None)
    if endpoints:
        url = urlsplit(endpoints[0] if "://" in endpoints[0] else f"grpc://{endpoints[0]}")
        if url.hostname:
            attrs["server.address"] = url.hostname
        if url.port:
            attrs["server.port"] = url.port
    grpc_method = _GRPC_METHODS.get(config.protocol)
    if grpc_method is not None:
        service, method = grpc_method
        attrs.update({"rpc.system": "grpc", "rpc.service": service, "rpc.method": method})
        return f"{service}/{method}", SpanKind.CLIENT, attrs
    if config.protocol == "onnx":
        return "onnxruntime infer", SpanKind.INTERNAL, attrs
    attrs["http.request.method"] = "POST"
    return "POST", SpanKind.CLIENT, attrs
