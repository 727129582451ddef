"""Metrics through a running gateway (HTTP ingress, fake backends): exact counts per variant,
errors by kind, fallbacks, cache results, in-flight requests, pools, config."""

from __future__ import annotations

import asyncio
import random

from aiohttp import web

from isthmus.backends import BackendFailed, BackendTimeout
from isthmus.backends.fake import FakeBackend
from isthmus.router.weighted import WeightedChoice
from tests.conftest import v2_body
from tests.telemetry.helpers import plain_telemetry, requests_by, scraped, series

SPLIT = {
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 90}, {"backend": "b", "weight": 10}]}],
    "backends": [
        {"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]},
        {"name": "b", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]},
    ],
}



async def test_200_requests_split_90_10_are_counted_exactly_per_variant(started, http):
    telemetry = plain_telemetry()
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    server = await started(SPLIT, fakes, random.Random(7).random, telemetry)
    seen = {"a": 0, "b": 0}
    for _ in range(200):
        async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
            assert r.status == 200
            seen[r.headers["x-isthmus-backend"]] += 1
    replay, choice = random.Random(7), WeightedChoice([90, 10])
    expected = {"a": 0, "b": 0}
    for _ in range(200):
        expected["ab"[choice.pick(replay.random())]] += 1
    assert seen == expected and expected["b"] not in (0, 200)
    samples = scraped(telemetry)
    assert requests_by(samples, "variant", model="m", status="200", transport="http", cache="bypass") == expected
    assert series(samples, "isthmus_request_errors_total") == {}


async def test_errors_are_counted_by_kind_and_status(started, http):
    telemetry = plain_telemetry()
    fakes = {"a": FakeBackend("a", error=BackendTimeout("a", "slow")), "b": FakeBackend("b", error=BackendFailed("b", "x"))}
    server = await started(SPLIT, fakes, lambda: 0.0, telemetry)
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 504
    async with http.post(f"{server.url}/v2/models/nope/infer", json=v2_body([1.0])) as r:
        assert r.status == 404
    async with http.post(f"{server.url}/v2/models/m/infer", data=b"{not json") as r:
        assert r.status == 400
    async with http.get(f"{server.url}/v2/health/ready") as r:
        assert r.status == 200  # not an inference request: not measured
    samples = scraped(telemetry)
    assert requests_by(samples, "status") == {"504": 1, "404": 1, "400": 1}
    assert requests_by(samples, "model") == {"m": 2, "-": 1}
    errors = {dict(k)["kind"]: v for k, v in series(samples, "isthmus_request_errors_total").items()}
    assert errors == {"backend_timeout": 1, "unknown_model": 1, "bad_request": 1}
    assert series(samples, "isthmus_request_errors_total", kind="backend_timeout", variant="a", model="m")


async def test_a_fallback_is_counted_and_the_request_labelled_with_the_variant_that_answered(started, http):
    telemetry = plain_telemetry()
    doc = {**SPLIT, "routes": [{**SPLIT["routes"][0], "fallback": "b"}]}
    fakes = {"a": FakeBackend("a", error=BackendFailed("a", "down")), "b": FakeBackend("b")}
    server = await started(doc, fakes, lambda: 0.0, telemetry)
    for _ in range(3):
        async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
            assert r.status == 200 and r.headers["x-isthmus-backend"] == "b"
    samples = scraped(telemetry)
    assert series(samples, "isthmus_fallback_activations_total") == {
        frozenset({"model": "m", "variant": "a", "fallback": "b"}.items()): 3
    }
    assert requests_by(samples, "variant") == {"b": 3}


async def test_cache_results_label_requests_and_cache_counters_follow(started, http):
    telemetry = plain_telemetry()
    doc = {**SPLIT, "routes": [{**SPLIT["routes"][0], "cache": {"enabled": True}}]}
    server = await started(doc, {"a": FakeBackend("a"), "b": FakeBackend("b")}, lambda: 0.0, telemetry)
    url = f"{server.url}/v2/models/m/infer"
    for headers in ({}, {}, {}, {"cache-control": "no-cache"}, {"cache-control": "no-store"}):
        async with http.post(url, json=v2_body([1.0]), headers=headers) as r:
            assert r.status == 200
    samples = scraped(telemetry)
    assert requests_by(samples, "cache") == {"miss": 1, "hit": 2, "bypass": 2}
    assert series(samples, "isthmus_cache_hits_total", tier="l1") == {frozenset({"tier": "l1"}.items()): 2}
    assert list(series(samples, "isthmus_cache_misses_total").values()) == [1]
    assert list(series(samples, "isthmus_cache_bypasses_total").values()) == [2]
    assert list(series(samples, "isthmus_cache_stores_total").values()) == [2]  # the miss and the no-cache
    assert list(series(samples, "isthmus_cache_memory_usage_bytes").values())[0] > 0


async def test_in_flight_requests_are_seen_by_a_scrape_during_the_call(started, http):
    telemetry = plain_telemetry()
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow(FakeBackend):
        async def infer(self, request, ctx):
            entered.set()
            await release.wait()
            return await super().infer(request, ctx)

    server = await started(SPLIT, {"a": Slow("a"), "b": FakeBackend("b")}, lambda: 0.0, telemetry)
    call = asyncio.ensure_future(http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])))
    await entered.wait()
    assert series(scraped(telemetry), "isthmus_requests_in_flight", transport="http") == {
        frozenset({"transport": "http"}.items()): 1
    }
    release.set()
    (await call).release()
    assert list(series(scraped(telemetry), "isthmus_requests_in_flight").values()) == [0]


async def test_backend_pool_connections_and_config_version(started, http, serve_app):
    async def infer(request: web.Request) -> web.Response:
        return web.json_response({"model_name": "m", "outputs": [
            {"name": "output-0", "datatype": "FP32", "shape": [1, 1], "data": [2.0]}]})  # fmt: skip

    app = web.Application()
    app.router.add_post("/v2/models/m/infer", infer)
    base = await serve_app(app)
    doc = {
        "routes": [{"model": "m", "variants": [{"backend": "rest", "weight": 1}]}],
        "backends": [{"name": "rest", "protocol": "kserve-v2", "endpoints": [base]}],
    }
    telemetry = plain_telemetry()
    server = await started(doc, telemetry=telemetry)
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 200
    samples = scraped(telemetry)
    pool = {dict(k)["state"]: v for k, v in series(samples, "isthmus_backend_connections", variant="rest").items()}
    assert pool == {"idle": 1, "in_use": 0}
    assert series(samples, "isthmus_config_info") == {frozenset({"version": "1", "source": "file"}.items()): 1}
