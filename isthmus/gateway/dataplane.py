"""The data plane shared by every ingress transport: route, call, fall back."""

from __future__ import annotations

import asyncio
import logging
import random as _random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from isthmus.backends import BackendError, BackendTimeout, CallContext
from isthmus.cache.coalesce import WaitTimeout
from isthmus.cache.entry import Entry
from isthmus.cache.keys import request_key
from isthmus.cache.service import ResultCache
from isthmus.codecs import InferRequest, InferResponse
from isthmus.config.model import RouteCacheConfig
from isthmus.gateway.state import GatewayState
from isthmus.router import Decision

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
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
    what the chosen variant would have answered.
    """

    def __init__(
        self,
        state: GatewayState,
        random: Callable[[], float] | None = None,
        cache: ResultCache | None = None,
        tenant_header: str | None = None,
    ):
        self._state = state
        self._random = random or _random.Random().random
        self.cache = cache
        self._tenant_header = tenant_header

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

    async def infer(
        self,
        model: str,
        version: str | None,
        request: InferRequest,
        headers: Mapping[str, str],
        request_id: str,
        tenant: str | None = None,
    ) -> Answer:
        """``tenant``: the client certificate's identity, used when no tenant header is configured."""
        state = self._state  # one generation for the whole request
        route = state.routes.route(model)
        decision = route.decide(version, headers, self._random)
        ctx = CallContext(model, request_id)
        backend = state.backends[decision.backend]
        try:
            if self.cache is None or not route.cache.enabled:
                response = await backend.infer(request, ctx)
                return Answer(response, decision.backend, decision.version, decision)
            return await self._cached(state, route.cache, decision, request, ctx, headers, tenant)
        except BackendError as exc:
            if not exc.fallback_ok or decision.fallback is None:
                raise
            log.warning("request %s: %s; falling back to '%s'", request_id, exc, decision.fallback)
        response = await state.backends[decision.fallback].infer(request, ctx)
        return Answer(response, decision.fallback, state.backend_version(decision.fallback), decision, True)

    async def _cached(
        self,
        state: GatewayState,
        policy: RouteCacheConfig,
        decision: Decision,
        request: InferRequest,
        ctx: CallContext,
        headers: Mapping[str, str],
        tenant: str | None,
    ) -> Answer:
        assert self.cache is not None
        directives = headers.get("cache-control", "").lower()
        no_store, no_cache = "no-store" in directives, "no-cache" in directives
        if no_store:
            response = await state.backends[decision.backend].infer(request, ctx)
            return Answer(response, decision.backend, decision.version, decision, cache="bypass")
        if self._tenant_header is not None:
            tenant = headers.get(self._tenant_header) or None
        key = request_key(request, model=ctx.model, backend=decision.backend, version=decision.version, tenant=tenant)
        if not no_cache:
            hit = self.cache.peek(key)
            if hit is not None:
                return Answer(hit.response, hit.backend, hit.version, decision, cache="hit")

        async def call() -> Entry:
            response = await state.backends[decision.backend].infer(request, ctx)
            return Entry(response, decision.backend, decision.version)

        wait = state.backend_timeout(decision.backend) + 1.0
        try:
            entry, status = await self.cache.fetch(key, policy, call, wait, lookup=not no_cache)
        except WaitTimeout as exc:
            raise BackendTimeout(decision.backend, str(exc)) from None
        return Answer(entry.response, entry.backend, entry.version, decision, cache="bypass" if no_cache else status)

    async def model_ready(self, model: str, version: str | None = None) -> bool:
        state = self._state
        route = state.routes.route(model)
        candidates = [v for v in route.variants if v.weight > 0 and (version is None or v.version == version)]
        if version is not None and not candidates:
            route.decide(version, {}, self._random)  # raises UnknownVersion with the known versions
        results = await asyncio.gather(*(state.backends[v.backend].ready(model) for v in candidates))
        return any(results)

    async def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        state = self._state
        route = state.routes.route(model)
        if version is not None and version not in route.versions:
            route.decide(version, {}, self._random)
        found: Mapping[str, Any] = {}
        for v in route.variants:
            if version is None or v.version == version:
                md = await state.backends[v.backend].metadata(model)
                if md:
                    found = md
                    break
        return {
            "name": model,
            "versions": list(route.versions),
            "platform": found.get("platform", ""),
            "inputs": found.get("inputs", []),
            "outputs": found.get("outputs", []),
        }
