"""Spans around the data path's steps: the one seam through which tracing sees the data plane.

The data plane (:mod:`isthmus.gateway.dataplane_spans`) and the result cache
(:mod:`isthmus.cache.spans`) are handed a :class:`StepSpans` when tracing is on
(:attr:`isthmus.telemetry.Telemetry.steps`); with tracing off they are handed None and their
steps are not wrapped at all, so tracing off costs nothing per request. Traced and untraced
requests run the same steps in the same order: the wrappers only open a span around each.

Telemetry is a leaf: this module knows spans, not the layers it observes.
"""

from __future__ import annotations

from typing import Any, Mapping

from opentelemetry.trace import SpanKind, Tracer, get_current_span

from isthmus.telemetry.tracing import Tracing


class StepSpans:
    """A span factory for the data path's steps, children of the ingress's server span."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @staticmethod
    def recording() -> bool:
        """Whether the request's span is recorded: a trace sampled out makes no child spans (they
        would not be exported either); its context still reaches the backend."""
        return get_current_span().is_recording()

    def span(
        self, name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
    ) -> Any:
        """A context manager: ``name``'s span, current within the block (yields the span)."""
        return self._tracer.start_as_current_span(name, kind=kind, attributes=attributes)

    @staticmethod
    def inject(carrier: dict[str, str]) -> dict[str, str]:
        """``carrier`` with the current span as the parent of a call it goes with (``traceparent``)."""
        return Tracing.inject(carrier)


