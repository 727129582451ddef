"""DataPlane on its own: fake backends (backends/fake.py), the fake cache tier (cache/fake.py), an
injected random, no sockets. Route, cache, coalesce, fall back, and each error kind through the table."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource

from isthmus.backends import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable, CallContext
from isthmus.backends.errors import BackendUnsupported
from isthmus.backends.fake import FakeBackend, doubling
from isthmus.cache.fake import FakeTier
from isthmus.cache.service import ResultCache
from isthmus.codecs import CodecError, InferRequest, InferResponse, Tensor
from isthmus.config.model import CacheConfig, RedisConfig
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.error_table import error_kind, retryable
from isthmus.gateway.errors import http_status
from isthmus.gateway.grpc_errors import grpc_status
from isthmus.gateway.request_meta import RequestMeta, request_meta
from isthmus.gateway.state import GatewayState
from isthmus.router import UnknownModel, UnknownVersion
from isthmus.router.errors import UnknownVariant
from isthmus.telemetry import Telemetry
from isthmus.telemetry.metrics import Metrics
from tests.conftest import make_config

EP = ["http://127.0.0.1:1"]


def backend(name: str, version: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "protocol": "kserve-v2", "endpoints": EP}
    if version is not None:
        doc["version"] = version
    return doc


def tensor_request(*values: float) -> InferRequest:
    return InferRequest(inputs=(Tensor("input-0", "FP32", np.array([values], dtype=np.float32)),))


def meta(headers: dict[str, str] | None = None, model: str = "m", **kwargs: Any) -> RequestMeta:
    return request_meta(headers or {}, model, "rid-1", **kwargs)


def output(answer: Any) -> list[float]:
    return answer.response.outputs[0].data.reshape(-1).tolist()


class Random:
    """The injected randomness: returns the values it is given, in turn."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def plane(
    routes: list[dict[str, Any]],
    backends: dict[str, FakeBackend],
    *,
    random: Random | None = None,
    tier: FakeTier | None = None,
    cache: bool = True,
    tenant_header: str | None = None,
) -> tuple[DataPlane, Telemetry]:
    config = make_config({"backends": [backend(n, getattr(b, "version", None)) for n, b in backends.items()],
                          "routes": routes})  # fmt: skip
    telemetry = Telemetry(Metrics(Resource({})))  # scraped by the tests (Telemetry.disabled() exports nothing)
    result_cache = None
    if cache:
        redis = RedisConfig(url="redis://127.0.0.1:1/0") if tier is not None else None
        result_cache = ResultCache(CacheConfig(redis=redis), tier)
    dp = DataPlane(
        GatewayState.build(config, backends, "1", "test"), random or Random(), cache=result_cache,
        tenant_header=tenant_header, telemetry=telemetry,
    )  # fmt: skip
    return dp, telemetry


def fallbacks_counted(telemetry: Telemetry) -> float:
    scraped = telemetry.metrics.scrape()[0].decode()
    lines = [ln for ln in scraped.splitlines() if ln.startswith("isthmus_fallback_activations_total{")]
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines)


# --- routing ---------------------------------------------------------------------------------

SPLIT = [{"model": "m", "variants": [{"backend": "a", "weight": 90}, {"backend": "b", "weight": 10}],
          "sticky_header": "x-user", "override_header": "x-variant"}]  # fmt: skip


async def test_weights_pick_with_the_injected_random():
    a, b = FakeBackend("a", doubling(0.0)), FakeBackend("b", doubling(100.0))
    dp, _ = plane(SPLIT, {"a": a, "b": b}, random=Random(0.0, 0.95, 0.5), cache=False)
    picked = [(await dp.infer(tensor_request(1.0), meta())).backend for _ in range(3)]
    assert picked == ["a", "b", "a"]
    assert len(a.calls) == 2 and len(b.calls) == 1


async def test_sticky_key_keeps_one_variant_and_override_pins_one():
    a, b = FakeBackend("a"), FakeBackend("b")
    dp, _ = plane(SPLIT, {"a": a, "b": b}, random=Random(), cache=False)  # no random drawn
    sticky = {(await dp.infer(tensor_request(1.0), meta({"x-user": "alice"}))).backend for _ in range(5)}
    assert len(sticky) == 1
    answer = await dp.infer(tensor_request(1.0), meta({"x-variant": "b"}))
    assert answer.backend == "b" and answer.decision.reason == "override"
    with pytest.raises(UnknownVariant):
        await dp.infer(tensor_request(1.0), meta({"x-variant": "nope"}))


async def test_versions_and_the_pinned_variant():
    v1, v2 = FakeBackend("v1", doubling(1.0)), FakeBackend("v2", doubling(2.0))
    v1.version, v2.version = "1", "2"  # type: ignore[attr-defined]
    routes = [{"model": "m", "variants": [{"backend": "v1", "weight": 1}, {"backend": "v2", "weight": 1}]}]
    dp, _ = plane(routes, {"v1": v1, "v2": v2}, random=Random(0.0, 0.0), cache=False)
    assert (await dp.infer(tensor_request(1.0), meta())).backend == "v1"
    answer = await dp.infer(tensor_request(1.0), meta(version="2"))  # the same draw, among version 2's variants
    assert (answer.backend, answer.version, output(answer)) == ("v2", "2", [4.0])
    assert (await dp.infer(tensor_request(1.0), meta(variant="v2"))).backend == "v2"  # a label naming it
    with pytest.raises(UnknownVersion):
        await dp.infer(tensor_request(1.0), meta(version="3"))


async def test_the_model_check_the_ingresses_use():
    dp, _ = plane(SPLIT, {"a": FakeBackend("a"), "b": FakeBackend("b")}, cache=False)
    assert dp.route("m").model == "m" and "m" in dp.routes and "x" not in dp.routes
    with pytest.raises(UnknownModel):
        dp.route("x")
    with pytest.raises(UnknownModel):
        await dp.infer(tensor_request(1.0), meta(model="x"))


async def test_the_trace_headers_go_to_the_backend_as_they_came():
    a = FakeBackend("a")
    dp, _ = plane([{"model": "m", "variants": [{"backend": "a", "weight": 1}]}], {"a": a}, random=Random(0.0))
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await dp.infer(tensor_request(1.0), meta({"traceparent": tp, "tracestate": "v=1", "x-other": "no"}))
    ctx: CallContext = a.calls[0][1]
    assert dict(ctx.headers) == {"traceparent": tp, "tracestate": "v=1"} and ctx.request_id == "rid-1"


# --- the cache -------------------------------------------------------------------------------

CACHED = [{"model": "m", "variants": [{"backend": "a", "weight": 1}], "fallback": "local",
           "cache": {"enabled": True, "ttl": "1m"}}]  # fmt: skip


def cached_plane(a: FakeBackend, local: FakeBackend | None = None, **kwargs: Any) -> tuple[DataPlane, Telemetry]:
    backends = {"a": a, "local": local or FakeBackend("local", doubling(100.0))}
    return plane(CACHED, backends, random=Random(*[0.0] * 50), **kwargs)


async def test_miss_then_hit_with_the_shared_tier_filled():
    a, tier = FakeBackend("a"), FakeTier()
    dp, _ = cached_plane(a, tier=tier)
    first = await dp.infer(tensor_request(1.0), meta())
    again = await dp.infer(tensor_request(1.0), meta())
    assert (first.cache, again.cache) == ("miss", "hit") and output(again) == output(first) == [2.0]
    assert len(a.calls) == 1 and tier.sets == 1 and len(tier.data) == 1


async def test_no_cache_skips_the_lookup_and_no_store_skips_the_cache():
    a, tier = FakeBackend("a"), FakeTier()
    dp, _ = cached_plane(a, tier=tier)
    await dp.infer(tensor_request(1.0), meta())
    bypass = await dp.infer(tensor_request(1.0), meta({"cache-control": "No-Cache"}))
    assert bypass.cache == "bypass" and len(a.calls) == 2  # looked nothing up, called, stored again
    assert tier.sets == 2
    gets = tier.gets
    no_store = await dp.infer(tensor_request(5.0), meta({"cache-control": "no-store"}))
    assert no_store.cache == "bypass" and len(a.calls) == 3 and tier.gets == gets and tier.sets == 2
    assert (await dp.infer(tensor_request(5.0), meta())).cache == "miss"  # nothing was stored for it
    assert dp.cache is not None and dp.cache.stats["bypass"] == 2


async def test_tenants_do_not_share_answers():
    a = FakeBackend("a")
    dp, _ = cached_plane(a, tenant_header="x-tenant")
    assert dp.tenant_header == "x-tenant"
    first = await dp.infer(tensor_request(1.0), meta({"x-tenant": "t1"}, tenant_header=dp.tenant_header))
    other = await dp.infer(tensor_request(1.0), meta({"x-tenant": "t2"}, tenant_header=dp.tenant_header))
    same = await dp.infer(tensor_request(1.0), meta({"x-tenant": "t1"}, tenant_header=dp.tenant_header))
    assert (first.cache, other.cache, same.cache) == ("miss", "miss", "hit") and len(a.calls) == 2


class Gated(FakeBackend):
    """Answers (or fails) when the test opens the gate; ``entered`` is set at the first call."""

    def __init__(self, name: str, error: Exception | None = None) -> None:
        super().__init__(name)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.fail = error

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        self.calls.append((request, ctx))
        self.entered.set()
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return self.handler(request, ctx)


async def until_waiting(dp: DataPlane, followers: int) -> None:
    """Until ``followers`` requests wait on the in-flight call (polled, with a deadline)."""
    assert dp.cache is not None
    async with asyncio.timeout(5):
        while dp.cache.coalescer.followers < followers:
            await asyncio.sleep(0)


async def test_identical_concurrent_requests_make_one_backend_call():
    a = Gated("a")
    dp, _ = cached_plane(a)
    tasks = [asyncio.create_task(dp.infer(tensor_request(3.0), meta())) for _ in range(10)]
    await a.entered.wait()
    await until_waiting(dp, 9)
    a.gate.set()
    answers = await asyncio.gather(*tasks)
    assert len(a.calls) == 1 and all(output(x) == [6.0] for x in answers)
    assert sorted(x.cache for x in answers) == ["miss"] * 10
    assert dp.cache is not None and dp.cache.stats["coalesced"] == 9


# --- fallback --------------------------------------------------------------------------------


async def test_direct_fallback_answers_once_and_is_counted():
    a = FakeBackend("a", error=BackendUnavailable("a", "connection refused"))
    local = FakeBackend("local", doubling(100.0))
    dp, telemetry = cached_plane(a, local, cache=False)
    answer = await dp.infer(tensor_request(1.0), meta())
    assert (answer.backend, answer.fell_back, output(answer)) == ("local", True, [102.0])
    assert len(a.calls) == 1 and len(local.calls) == 1 and fallbacks_counted(telemetry) == 1


async def test_coalesced_fallback_runs_once_is_counted_per_request_and_never_cached():
    a = Gated("a", error=BackendUnavailable("a", "connection refused"))
    local = FakeBackend("local", doubling(100.0))
    tier = FakeTier()
    dp, telemetry = cached_plane(a, local, tier=tier)
    tasks = [asyncio.create_task(dp.infer(tensor_request(1.0), meta())) for _ in range(5)]
    await a.entered.wait()
    await until_waiting(dp, 4)
    a.gate.set()
    answers = await asyncio.gather(*tasks)
    assert {(x.backend, x.fell_back) for x in answers} == {("local", True)}
    assert len(a.calls) == 1 and len(local.calls) == 1  # one call each, shared by all five
    assert fallbacks_counted(telemetry) == 5  # counted per request answered by the fallback
    assert tier.sets == 0 and tier.data == {}  # never stored
    a.fail, a.gate = None, asyncio.Event()
    a.gate.set()
    again = await dp.infer(tensor_request(1.0), meta())
    assert (again.backend, again.cache, len(a.calls)) == ("a", "miss", 2)  # the primary is tried again


async def test_a_failing_fallback_is_called_once_and_its_error_answers():
    a = FakeBackend("a", error=BackendUnavailable("a", "connection refused"))
    local = FakeBackend("local", error=BackendUnavailable("local", "connection refused"))
    for cache in (False, True):
        a.calls.clear()
        local.calls.clear()
        dp, telemetry = cached_plane(a, local, cache=cache)
        with pytest.raises(BackendUnavailable) as err:
            await dp.infer(tensor_request(1.0), meta())
        assert err.value.backend == "local" and len(a.calls) == 1 and len(local.calls) == 1
        assert fallbacks_counted(telemetry) == 1


async def test_the_apps_fault_never_falls_back():
    a = FakeBackend("a", error=BackendRejected("a", "wrong dtype", 400))
    local = FakeBackend("local")
    for cache in (False, True):
        dp, telemetry = cached_plane(a, local, cache=cache)
        with pytest.raises(BackendRejected):
            await dp.infer(tensor_request(1.0), meta())
        assert local.calls == [] and fallbacks_counted(telemetry) == 0


# --- each error kind through the table ------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code", "kind", "retry"),
    [
        (BackendUnavailable("a", "connection refused"), 503, "UNAVAILABLE", "backend_connect", True),
        (BackendTimeout("a", "slow"), 504, "DEADLINE_EXCEEDED", "backend_timeout", False),
        (BackendFailed("a", "HTTP 500", 500), 502, "INTERNAL", "backend_status", False),
        (BackendRejected("a", "no such model", 404), 404, "NOT_FOUND", "backend_rejected", False),
        (BackendUnsupported("a", "no such call"), 501, "UNIMPLEMENTED", "backend_unsupported", False),
        (CodecError("inputs[0]: bad"), 400, "INVALID_ARGUMENT", "bad_request", False),
    ],
)
async def test_each_error_reaches_the_edge_as_its_row_says(error, status, code, kind, retry):
    dp, _ = plane([{"model": "m", "variants": [{"backend": "a", "weight": 1}]}],
                  {"a": FakeBackend("a", error=error)}, random=Random(0.0), cache=False)  # fmt: skip
    with pytest.raises(type(error)) as raised:
        await dp.infer(tensor_request(1.0), meta())
    exc = raised.value
    assert exc is error  # not wrapped, not mutated
    assert http_status(exc) == status and grpc_status(exc)[0].name == code  # type: ignore[index]
    assert error_kind(exc) == kind and retryable(exc) is retry


async def test_routing_errors_through_the_table():
    dp, _ = plane(SPLIT, {"a": FakeBackend("a"), "b": FakeBackend("b")}, cache=False)
    for m, kind, status in ((meta(model="x"), "unknown_model", 404), (meta({"x-variant": "zz"}), "routing", 400)):
        with pytest.raises(Exception) as raised:
            await dp.infer(tensor_request(1.0), m)
        assert error_kind(raised.value) == kind and http_status(raised.value) == status
