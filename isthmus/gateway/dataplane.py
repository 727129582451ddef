"""The data plane shared by every ingress transport: route, call, fall back."""

from __future__ import annotations

import asyncio
import random as _random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from isthmus.backends import Backend, BackendError, BackendTimeout, CallContext
from isthmus.cache.coalesce import WaitTimeout
from isthmus.cache.entry import Entry
from isthmus.cache.keys import request_key
from isthmus.cache.service import ResultCache
from isthmus.codecs import InferRequest, InferResponse
from isthmus.codecs.names import check_known
from isthmus.config.model import RouteCacheConfig
from isthmus.gateway.metadata import model_metadata
from isthmus.gateway.request_meta import RequestMeta
from isthmus.gateway.state import GatewayState
from isthmus.router import Decision, Route, RouteTable
from isthmus.telemetry import Telemetry

T = TypeVar("T")


@dataclass(slots=True)  # treated as immutable; not frozen (hot path: isthmus.codecs.tensors)
class Answer:
    response: InferResponse
    backend: str
    version: str | None
    decision: Decision
    fell_back: bool = False
    cache: str = "bypass"  # "hit" | "miss" | "bypass"


class DataPlane:
    """Transport-independent request handling (cf. MLServer's DataPlane).

    ingress (decoded request) -> route decision -> cache / coalescer -> backend -> fallback.
    Sticky and override routing are resolved before the cache lookup, so a hit is exactly
    what the chosen variant would have answered. Each step is a method; with tracing on
    (``telemetry.steps``) :func:`isthmus.gateway.dataplane_spans.trace_steps` wraps each in a
    span, so this class never checks for a tracer and traced requests run the same code.
    """

    def __init__(
        self,
        state: GatewayState,
        random: Callable[[], float] | None = None,
        cache: ResultCache | None = None,
        tenant_header: str | None = None,
        telemetry: Telemetry | None = None,
    ):
        self._state = state
        self._random = random or _random.Random().random
        self.cache = cache
        #: the header naming the cache tenant (``cache.tenant_header``), read by the edge
        self.tenant_header = tenant_header
        self._telemetry = telemetry = telemetry if telemetry is not None else Telemetry.disabled()
        #: whether each step runs in a span (tracing on)
        self.traced = telemetry.steps is not None
        if telemetry.steps is not None:
            from isthmus.gateway.dataplane_spans import trace_steps

            trace_steps(self, telemetry.steps)

    @property
    def telemetry(self) -> Telemetry:
        return self._telemetry

    @property
    def state(self) -> GatewayState:
        return self._state

    def swap(self, state: GatewayState) -> GatewayState:
        """Install a new generation; returns the old one (the caller closes what is no longer used)."""
        old, self._state = self._state, state
        self._awaiting_config = False
        return old

    _awaiting_config = False

    @property
    def configured(self) -> bool:
        """False from :meth:`await_config` until the next :meth:`swap`: /v2/health/ready says not ready."""
        return not self._awaiting_config

    def await_config(self) -> None:
        """The current generation is a placeholder (an xDS gateway before its first config)."""
        self._awaiting_config = True

    @property
    def routes(self) -> RouteTable:
        """The current generation's routes (``model in dp.routes``: a configured model)."""
        return self._state.routes

    def route(self, model: str) -> Route:
        """The model's route in the current generation: the ingresses' model check
        (:class:`isthmus.router.UnknownModel` for a model no route serves)."""
        return self._state.routes.route(model)

    async def infer(self, request: InferRequest, meta: RequestMeta) -> Answer:
        """The answer to the decoded ``request``, as ``meta`` (built once at the edge) asks."""
        state = self._state  # one generation for the whole request
        route = state.routes.route(meta.model)
        decision = self._decide(route, meta.version, meta.headers, meta.variant)
        ctx = CallContext(meta.model, meta.request_id, meta.trace)  # a tracing data plane replaces the trace
        if self.cache is not None and route.cache.enabled:
            return await self._cached(state, route.cache, decision, request, ctx, meta)
        try:  # _answer, inlined on the uncached path (one coroutine less per request)
            response = await self._call(state, decision.backend, request, ctx)
        except BackendError as exc:
            self._falling_back(exc, decision, ctx.request_id)  # raises exc unless the fallback may answer
        else:
            return Answer(response, decision.backend, decision.version, decision)
        return await self._fallback(state, decision, request, ctx)

    # --- the steps (with tracing on, each runs in a span: isthmus.gateway.dataplane_spans) ------

    def _decide(
        self, route: Route, version: str | None, headers: Mapping[str, str], variant: str | None = None
    ) -> Decision:
        if variant is not None:
            return route.pin(variant, version)
        return route.decide(version, headers, self._random)

    async def _call(self, state: GatewayState, backend: str, request: InferRequest, ctx: CallContext) -> InferResponse:
        declared = state.declared_inputs.get(backend)  # the inputs its config declares: unknown names are 400s
        if declared is not None and request.inputs is not None:
            check_known([t.name for t in request.inputs], declared, ctx.model)
        return await state.backends[backend].infer(request, ctx)

    async def _answer(self, state: GatewayState, decision: Decision, request: InferRequest, ctx: CallContext) -> Answer:
        """The chosen variant's answer, or its fallback's: the one place an inference falls back
        (called directly, and as the call that coalesced requests share)."""
        try:
            response = await self._call(state, decision.backend, request, ctx)
        except BackendError as exc:
            self._falling_back(exc, decision, ctx.request_id)  # raises exc unless the fallback may answer
        else:
            return Answer(response, decision.backend, decision.version, decision)
        return await self._fallback(state, decision, request, ctx)

    async def _fallback(
        self, state: GatewayState, decision: Decision, request: InferRequest, ctx: CallContext
    ) -> Answer:
        assert decision.fallback is not None
        response = await self._call(state, decision.fallback, request, ctx)
        return Answer(response, decision.fallback, state.backend_version(decision.fallback), decision, True)

    def _falling_back(self, exc: BackendError, decision: Decision, request_id: str, usable: bool = True) -> str:
        """The fallback that answers instead after ``exc``, counted and warned about; raises ``exc``
        when there is none, the error forbids it (the app's fault) or the fallback is not ``usable``."""
        fallback = decision.fallback
        if not exc.fallback_ok or fallback is None or not usable:
            raise exc
        self._telemetry.metrics.fell_back(decision.model, decision.backend, fallback)
        self._telemetry.warnings.warning(
            ("fallback", decision.backend), "request %s: %s; falling back to '%s'", request_id, exc, fallback
        )
        return fallback

    def _peek(self, cache: ResultCache, key: str) -> Entry | None:
        return cache.peek(key)

    async def _cached(
        self,
        state: GatewayState,
        policy: RouteCacheConfig,
        decision: Decision,
        request: InferRequest,
        ctx: CallContext,
        meta: RequestMeta,
    ) -> Answer:
        cache = self.cache
        assert cache is not None
        no_cache = meta.no_cache
        if meta.no_store:
            cache.stats["bypass"] += 1
            return await self._answer(state, decision, request, ctx)
        key = request_key(
            request, model=ctx.model, backend=decision.backend, version=decision.version, tenant=meta.tenant
        )
        if no_cache:
            cache.stats["bypass"] += 1
        else:
            hit = self._peek(cache, key)
            if hit is not None:
                return Answer(hit.response, hit.backend, hit.version, decision, cache="hit")

        led = False  # this request made the call (the others coalesced onto it)

        async def call() -> tuple[Entry, bool]:
            nonlocal led
            led = True
            answer = await self._answer(state, decision, request, ctx)
            # shared with every coalesced request; a fallback's answer is not stored
            return Entry(answer.response, answer.backend, answer.version), not answer.fell_back

        wait = state.backend_timeout(decision.backend) + 1.0
        timed_out = None
        try:
            entry, status = await cache.fetch(key, policy, call, wait, lookup=not no_cache)
        except WaitTimeout as exc:  # the identical request's call outlived our patience: as our own timeout
            timed_out = BackendTimeout(decision.backend, str(exc))
        if timed_out is not None:
            self._falling_back(timed_out, decision, ctx.request_id)
            return await self._fallback(state, decision, request, ctx)
        # the key names decision.backend, never the fallback: an entry from the fallback was just computed
        fell_back = decision.fallback is not None and entry.backend == decision.fallback
        if fell_back and not led:  # counted per request answered by the fallback
            self._telemetry.metrics.fell_back(decision.model, decision.backend, decision.fallback)
        status = "bypass" if no_cache else status
        return Answer(entry.response, entry.backend, entry.version, decision, fell_back, status)

    async def call_backend(
        self,
        meta: RequestMeta,
        op: Callable[[Backend, CallContext], Awaitable[T]],
        usable: Callable[[Backend], bool] | None = None,
    ) -> tuple[T, str]:
        """One call other than inference (TF Serving's Classify and Regress) to the chosen variant:
        routed as :meth:`infer` is (version, pinned variant, sticky, override, fallback), never cached
        nor coalesced. Returns ``(op's result, the backend that answered)``. The fallback answers only
        if ``usable`` says it can make the call."""
        state = self._state
        route = state.routes.route(meta.model)
        decision = self._decide(route, meta.version, meta.headers, meta.variant)
        ctx = CallContext(meta.model, meta.request_id, meta.trace)
        try:
            return await op(state.backends[decision.backend], ctx), decision.backend
        except BackendError as exc:
            fallback = decision.fallback
            ok = fallback is None or usable is None or usable(state.backends[fallback])
            fallback = self._falling_back(exc, decision, meta.request_id, ok)
        return await op(state.backends[fallback], ctx), fallback

    async def model_ready(self, model: str, version: str | None = None) -> bool:
        state = self._state
        route = state.routes.route(model)
        candidates = [v for v in route.variants if v.weight > 0 and (version is None or v.version == version)]
        if version is not None and not candidates:
            route.decide(version, {}, self._random)  # raises UnknownVersion with the known versions
        results = await asyncio.gather(*(state.backends[v.backend].ready(model) for v in candidates))
        return any(results)

    async def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The model's V2 metadata, complete, or :class:`isthmus.gateway.metadata.MetadataUnknown`."""
        return await model_metadata(self._state, model, version)
