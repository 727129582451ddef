"""The data plane with spans: a :class:`DataPlane` whose steps are each wrapped in a span.

Used only when tracing is on, so the plain data plane never checks for a tracer. Spans, all
children of the ingress's server span (the current one): ``route`` (route, chosen variant,
weight, reason), ``cache lookup``, ``coalesce`` (the wait for an identical request's call when
``isthmus.cache.coalesced``), the backend call (CLIENT, semantic-convention attributes; it
carries the trace to the backend as ``traceparent``), ``fallback``, and ``cache store``.
"""

from __future__ import annotations

from typing import Any, Mapping

from opentelemetry.trace import Tracer, get_current_span

from isthmus.backends import CallContext
from isthmus.cache.entry import Entry
from isthmus.cache.service import ResultCache
from isthmus.codecs import InferRequest, InferResponse
from isthmus.config.model import RouteCacheConfig
from isthmus.gateway.dataplane import Answer, Call, DataPlane
from isthmus.gateway.state import GatewayState
from isthmus.router import Decision, Route
from isthmus.telemetry.propagation import TRACEPARENT, TRACESTATE
from isthmus.telemetry.tracing import Tracing, backend_span


def _recording() -> bool:
    """Whether the request's span is recorded: a trace sampled out makes no child spans (they would
    not be exported either); its context still reaches the backend."""
    return get_current_span().is_recording()


class TracedDataPlane(DataPlane):
    @property
    def _tracer(self) -> Tracer:
        tracer = self.telemetry.tracer
        assert tracer is not None, "TracedDataPlane needs a Telemetry with tracing on"
        return tracer

    def _decide(
        self, route: Route, version: str | None, headers: Mapping[str, str], variant: str | None = None
    ) -> Decision:
        if not _recording():
            return super()._decide(route, version, headers, variant)
        with self._tracer.start_as_current_span("route") as span:
            decision = super()._decide(route, version, headers, variant)
            weight = next((v.weight for v in route.variants if v.backend == decision.backend), 0)
            span.set_attributes({
                "isthmus.route": route.model, "isthmus.variant": decision.backend,
                "isthmus.variant.weight": weight, "isthmus.route.reason": decision.reason,
            })  # fmt: skip
            if version is not None:
                span.set_attribute("isthmus.route.version", version)  # an explicit version was asked for
            return decision

    async def _call(self, state: GatewayState, backend: str, request: InferRequest, ctx: CallContext) -> InferResponse:
        if not _recording():  # a request not traced (Tracing.sampled): its traceparent goes on as it is
            return await super()._call(state, backend, request, ctx)
        name, kind, attrs = backend_span(state.backend_configs[backend])
        with self._tracer.start_as_current_span(name, kind=kind, attributes=attrs):
            return await super()._call(state, backend, request, _carrying_trace(ctx))

    async def _fallback(
        self, state: GatewayState, decision: Decision, request: InferRequest, ctx: CallContext
    ) -> Answer:
        if not _recording():
            return await super()._fallback(state, decision, request, ctx)
        attrs = {"isthmus.variant": decision.backend, "isthmus.fallback": str(decision.fallback)}
        with self._tracer.start_as_current_span("fallback", attributes=attrs):
            return await super()._fallback(state, decision, request, ctx)

    def _peek(self, cache: ResultCache, key: str) -> Entry | None:
        if not _recording():
            return super()._peek(cache, key)
        with self._tracer.start_as_current_span("cache lookup", attributes={"isthmus.cache.tier": "l1"}) as span:
            hit = super()._peek(cache, key)
            span.set_attribute("isthmus.cache.hit", hit is not None)
            return hit

    async def _fetch(
        self, cache: ResultCache, key: str, policy: RouteCacheConfig, call: Call, wait: float, lookup: bool
    ) -> tuple[Entry, str]:
        if not _recording():
            return await super()._fetch(cache, key, policy, call, wait, lookup)
        if lookup:  # L1 missed (the peek); L2 next, in its own span
            with self._tracer.start_as_current_span("cache lookup", attributes={"isthmus.cache.tier": "l2"}) as span:
                cached = await cache.get(key, policy.ttl)
                span.set_attribute("isthmus.cache.hit", cached is not None)
            if cached is not None:
                return cached, "hit"
        called = False

        async def counted() -> Entry:
            nonlocal called
            called = True
            return await call()

        with self._tracer.start_as_current_span("coalesce") as span:
            try:
                return await cache.fetch(key, policy, counted, wait, lookup=False)
            finally:
                span.set_attribute("isthmus.cache.coalesced", not called)  # waited for another request's call


def _carrying_trace(ctx: CallContext) -> CallContext:
    """``ctx`` with the current span as the backend's parent (``traceparent``, ``tracestate``)."""
    headers = {k: v for k, v in ctx.headers.items() if k not in (TRACEPARENT, TRACESTATE)}
    return CallContext(ctx.model, ctx.request_id, Tracing.inject(headers))


class TracedResultCache(ResultCache):
    """The result cache with a ``cache store`` span around each store."""

    def __init__(self, *args: Any, tracer: Tracer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracer = tracer

    async def put(self, key: str, entry: Entry, policy: RouteCacheConfig) -> bool:
        if not _recording():
            return await super().put(key, entry, policy)
        with self.tracer.start_as_current_span("cache store") as span:
            stored = await super().put(key, entry, policy)
            span.set_attribute("isthmus.cache.stored", stored)
            return stored
