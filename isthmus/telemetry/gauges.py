"""Observable metrics over other components' plain counters, read at collection time only.

Each adapter registers a callback with :meth:`Telemetry.observe`; the request path pays nothing
for them. Callbacks may run on the OTLP exporter's thread: they only read ints and fixed keys.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol, Sized

from isthmus.telemetry.metrics import Reading
from isthmus.telemetry.telemetry import Telemetry


# What the gauges read, declared here: telemetry is a leaf and imports none of the layers it observes.
class _Degradation(Protocol):
    degraded: bool


class ObservedCache(Protocol):
    """The result cache's counters (:class:`isthmus.cache.service.ResultCache`)."""

    stats: Mapping[str, int]
    l1: Any  # has ``size``
    l2: object | None
    redis_health: _Degradation
    coalescer: Sized


class _Generation(Protocol):
    backends: Mapping[str, Any]
    version: str
    source: str


class ObservedDataPlane(Protocol):
    """The data plane's current config generation (:class:`isthmus.gateway.dataplane.DataPlane`)."""

    @property
    def state(self) -> _Generation: ...

NO_ATTRS: dict[str, str] = {}


def observe_in_flight(telemetry: Telemetry, transport: str, read: Callable[[], int]) -> None:
    attrs = {"transport": transport}
    telemetry.observe(
        "isthmus.requests.in_flight", lambda: [(read(), attrs)],
        kind="gauge", unit="{request}", description="Requests being handled",
    )  # fmt: skip


def observe_cache(telemetry: Telemetry, cache: ObservedCache) -> None:
    stats = cache.stats

    def counts(*pairs: tuple[str, dict[str, str]]) -> Callable[[], Reading]:
        return lambda: [(stats.get(key, 0), attrs) for key, attrs in pairs]

    def counter(name: str, unit: str, description: str, read: Callable[[], Reading]) -> None:
        telemetry.observe(name, read, kind="counter", unit=unit, description=description)

    def gauge(name: str, unit: str, description: str, read: Callable[[], Reading]) -> None:
        telemetry.observe(name, read, kind="gauge", unit=unit, description=description)

    counter("isthmus.cache.hits", "{hit}", "Answers served from the cache, by tier",
            counts(("hit_l1", {"tier": "l1"}), ("hit_l2", {"tier": "l2"})))
    counter("isthmus.cache.misses", "{miss}", "Cache lookups that found nothing", counts(("miss", NO_ATTRS)))
    counter("isthmus.cache.bypasses", "{request}", "Requests that skipped the lookup (Cache-Control no-cache/no-store)",
            counts(("bypass", NO_ATTRS)))
    counter("isthmus.cache.coalesced", "{request}",
            "Requests answered by an identical request's backend call (local: this gateway; remote: another replica)",
            counts(("coalesced", {"scope": "local"}), ("coalesced_remote", {"scope": "remote"})))
    counter("isthmus.cache.stores", "{entry}", "Answers stored", counts(("stored", NO_ATTRS)))
    counter("isthmus.cache.oversize", "{entry}", "Answers too large to store", counts(("oversize", NO_ATTRS)))
    counter("isthmus.cache.redis.failures", "{failure}",
            "Redis operations that failed open (error: Redis failed or timed out; unreadable: a bad entry; "
            "connecting: the client was still connecting)",
            lambda: [
                (stats.get("redis_errors", 0) - stats.get("redis_unreadable", 0), {"kind": "error"}),
                (stats.get("redis_unreadable", 0), {"kind": "unreadable"}),
                (stats.get("redis_connecting", 0), {"kind": "connecting"}),
            ])  # fmt: skip
    if cache.l2 is not None:
        gauge("isthmus.cache.redis.degraded", "1", "1 while Redis is failing and skipped (back-off), else 0",
              lambda: [(int(cache.redis_health.degraded), NO_ATTRS)])  # fmt: skip
    gauge("isthmus.cache.memory.usage", "By", "Bytes held by the in-process (L1) cache", lambda: [(cache.l1.size, NO_ATTRS)])
    gauge("isthmus.cache.coalescing.calls", "{call}", "Backend calls being shared by identical requests now",
          lambda: [(len(cache.coalescer), NO_ATTRS)])  # fmt: skip


def _http_pools(backend: Any) -> Iterable[Any]:
    """The http1 pools of a REST backend (HttpModelBackend.transport), none for gRPC and ONNX."""
    transport = getattr(backend, "transport", None)
    return getattr(transport, "_pools", ()) or ()


def observe_pools(telemetry: Telemetry, dataplane: ObservedDataPlane) -> None:
    """Backend connection pools of the current config generation, by variant (backend) and state."""

    def read() -> Reading:
        out = []
        for name, backend in dataplane.state.backends.items():
            pools = list(_http_pools(backend))
            if not pools:
                continue
            in_use = sum(p.in_use_connections for p in pools)
            idle = sum(p.idle_connections for p in pools)
            out += [(in_use, {"variant": name, "state": "in_use"}), (idle, {"variant": name, "state": "idle"})]
        return out

    telemetry.observe(
        "isthmus.backend.connections", read,
        kind="gauge", unit="{connection}", description="Open HTTP/1.1 connections to backends (REST backends)",
    )  # fmt: skip


def observe_config(telemetry: Telemetry, dataplane: ObservedDataPlane) -> None:
    telemetry.observe(
        "isthmus.config.info",
        lambda: [(1, {"version": dataplane.state.version, "source": dataplane.state.source})],
        kind="gauge", unit="1", description="The config generation being served (version, source)",
    )  # fmt: skip

