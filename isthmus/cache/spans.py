"""The result cache's steps in spans (tracing on): ``cache lookup`` (L2, with ``isthmus.cache.hit``),
``coalesce`` (the call, or the wait for an identical request's: ``isthmus.cache.coalesced``) and
``cache store`` (``isthmus.cache.stored``).

:func:`trace_steps` wraps the steps of one :class:`ResultCache` when it is given a span factory;
the steps themselves, and their order, stay :class:`ResultCache`'s own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from isthmus.cache.entry import Entry
from isthmus.config.model import RouteCacheConfig
from isthmus.telemetry.steps import StepSpans

if TYPE_CHECKING:
    from isthmus.cache.service import Call, ResultCache


def trace_steps(cache: ResultCache, spans: StepSpans) -> None:
    get, computed, put = cache.get, cache.computed, cache.put
    recording = spans.recording

    async def traced_get(key: str, ttl: float) -> Entry | None:
        if not recording():
            return await get(key, ttl)
        with spans.span("cache lookup", attributes={"isthmus.cache.tier": "l2"}) as span:  # L1 missed (the peek)
            cached = await get(key, ttl)
            span.set_attribute("isthmus.cache.hit", cached is not None)
            return cached

    async def traced_computed(
        key: str, policy: RouteCacheConfig, call: Call, wait_timeout: float, store: bool = True
    ) -> Entry:
        if not recording():
            return await computed(key, policy, call, wait_timeout, store)
        called = False

        async def counted() -> tuple[Entry, bool]:
            nonlocal called
            called = True
            return await call()

        with spans.span("coalesce") as span:
            try:
                return await computed(key, policy, counted, wait_timeout, store)
            finally:
                span.set_attribute("isthmus.cache.coalesced", not called)  # waited for another's answer

    async def traced_put(key: str, entry: Entry, policy: RouteCacheConfig) -> bool:
        if not recording():
            return await put(key, entry, policy)
        with spans.span("cache store") as span:
            stored = await put(key, entry, policy)
            span.set_attribute("isthmus.cache.stored", stored)
            return stored

    cache.get = traced_get  # type: ignore[method-assign]
    cache.computed = traced_computed  # type: ignore[method-assign]
    cache.put = traced_put  # type: ignore[method-assign]
