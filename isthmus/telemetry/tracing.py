"""Traces: a TracerProvider of its own (never the global one), W3C propagation, span details.

Built only when ``telemetry.tracing.otlp_endpoint`` is set: otherwise the gateway has no tracer
and its request path makes no span and attaches no context (``tracer is None``, one check).
Sampling is parent-based: the app's sampled flag is followed; new traces are sampled at
``sample_ratio``. Spans are batched and exported off the event loop (BatchSpanProcessor).
"""

from __future__ import annotations

import random as _random
from typing import Callable, Mapping, MutableMapping
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from isthmus import __version__
from isthmus.config.model import BackendConfig, TracingConfig
from isthmus.telemetry.propagation import TRACEPARENT, sampled_flag

_PROPAGATOR = TraceContextTextMapPropagator()  # stateless


class Tracing:
    def __init__(
        self,
        config: TracingConfig,
        resource: Resource,
        processor: SpanProcessor | None = None,
        rng: _random.Random | None = None,
    ) -> None:
        """``processor``: where finished spans go (default: batched to the configured OTLP endpoint);
        ``rng``: the sampling decisions and the ids of traces that are not sampled."""
        if processor is None:
            from isthmus.telemetry.otlp import span_exporter

            processor = BatchSpanProcessor(span_exporter(config))
        self._ratio = config.sample_ratio
        rng = rng or _random.Random()
        self._random: Callable[[], float] = rng.random
        self._bits: Callable[[int], int] = rng.getrandbits
        # the ratio is applied by `sampled`, before any span exists; what reaches the SDK is traced
        self.provider = TracerProvider(sampler=ParentBased(ALWAYS_ON), resource=resource, shutdown_on_exit=False)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("isthmus", __version__)
        self._closed = False

    def sampled(self, headers: MutableMapping[str, str]) -> bool:
        """Whether this request is traced, decided before any span is made (an SDK span that is not
        recorded still costs ~25 us). An app's ``traceparent`` decides by its sampled flag; a new
        trace is sampled at ``sample_ratio``. A request not traced is served as with tracing off,
        its ``traceparent`` forwarded to the backend: the app's, or for a new trace one made here
        with the sampled flag clear, so that the backend does not sample it either."""
        traceparent = headers.get(TRACEPARENT)
        if traceparent is not None:
            flag = sampled_flag(traceparent)
            if flag is not None:
                return flag
        if self._random() < self._ratio:
            return True
        headers[TRACEPARENT] = f"00-{self._bits(128) or 1:032x}-{self._bits(64) or 1:016x}-00"
        return False

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
