"""The data plane shared by every ingress transport: route, call, fall back."""

from __future__ import annotations

import asyncio
import logging
import random as _random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from isthmus.backends import BackendError, CallContext
from isthmus.codecs import InferRequest, InferResponse
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


class DataPlane:
    """Transport-independent request handling (cf. MLServer's DataPlane)."""

    def __init__(self, state: GatewayState, random: Callable[[], float] | None = None):
        self._state = state
        self._random = random or _random.Random().random

    @property
    def state(self) -> GatewayState:
        return self._state

    def swap(self, state: GatewayState) -> GatewayState:
        """Install a new generation; returns the old one (the caller closes what is no longer used)."""
        old, self._state = self._state, state
        return old

    async def infer(
        self,
        model: str,
        version: str | None,
        request: InferRequest,
        headers: Mapping[str, str],
        request_id: str,
    ) -> Answer:
        state = self._state  # one generation for the whole request
        decision = state.routes.route(model).decide(version, headers, self._random)
        ctx = CallContext(model, request_id)
        try:
            response = await state.backends[decision.backend].infer(request, ctx)
            return Answer(response, decision.backend, decision.version, decision)
        except BackendError as exc:
            if not exc.fallback_ok or decision.fallback is None:
                raise
            log.warning("request %s: %s; falling back to '%s'", request_id, exc, decision.fallback)
        response = await state.backends[decision.fallback].infer(request, ctx)
        return Answer(response, decision.fallback, state.backend_version(decision.fallback), decision, True)

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
