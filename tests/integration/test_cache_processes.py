"""Distributed coalescing: two ``isthmus serve`` processes sharing one real Redis, in front of a slow
counting backend."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from isthmus.cache.keys import request_key
from isthmus.codecs import v2
from tests.cache.redis_server import running_redis
from tests.conftest import free_port, v2_body
from tests.processes import Process
from tests.servers.counting import Counting, make_app
from tests.waiting import until

LOCK_TTL = 1.0
BACKEND_DELAY = 0.3


@pytest.fixture
def redis_server():
    with running_redis() as server:
        yield server


@pytest.fixture
def processes(process):
    """``processes(config)``: an ``isthmus serve`` process on that config file."""
    return lambda config: process("--log-level", "warning", "serve", "--config", str(config))


async def wait_ready(http: aiohttp.ClientSession, proc: Process, url: str, timeout: float = 30) -> None:
    async def ready() -> bool:
        assert proc.alive(), proc.describe()
        try:
            async with http.get(url + "/v2/health/ready") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await until(ready, f"{url} ready", timeout, interval=0.1, detail=proc.describe)


def write_config(path: Path, port: int, backend_url: str, redis_url: str) -> Path:
    path.write_text(f"""
listener: {{address: "127.0.0.1:{port}"}}
cache:
  redis: {{url: "{redis_url}", timeout: 50ms, distributed_coalescing: true, lock_ttl: {LOCK_TTL * 1000:g}ms}}
backends:
  - {{name: m-v1, protocol: kserve-v2, endpoints: ["{backend_url}"], model: m, timeout: 5s}}
routes:
  - model: m
    variants: [{{backend: m-v1, weight: 100}}]
    cache: {{enabled: true, ttl: 60s}}
""")
    return path


@pytest.fixture
async def two_gateways(tmp_path, serve_app, processes, redis_server):
    counting = Counting(delay=BACKEND_DELAY)
    backend_url = await serve_app(make_app(counting))
    urls = []
    procs = []
    for name in ("a", "b"):
        port = free_port()
        procs.append(processes(write_config(tmp_path / f"{name}.yaml", port, backend_url, redis_server.url)))
        urls.append(f"http://127.0.0.1:{port}")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await asyncio.gather(*(wait_ready(http, p, u) for p, u in zip(procs, urls)))
        for i, url in enumerate(urls):  # replicas in service: connected to Redis (the first request connects)
            await infer(http, url, orjson.dumps(v2_body([1e6 + i])))
        counting.calls = 0
        yield http, urls, counting


async def infer(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str | None, dict]:
    async with http.post(url + "/v2/models/m/infer", data=body, headers={"content-type": "application/json"}) as r:
        return r.status, r.headers.get("x-isthmus-cache"), orjson.loads(await r.read())


async def test_a_burst_spread_over_two_processes_makes_one_backend_call(two_gateways):
    http, urls, counting = two_gateways
    for round_ in range(3):
        body = orjson.dumps(v2_body([float(round_), 1.0]))
        before = counting.calls
        replies = await asyncio.gather(*(infer(http, urls[i % 2], body) for i in range(40)))
        assert [s for s, _, _ in replies] == [200] * 40
        assert counting.calls - before == 1, f"round {round_}: {counting.calls - before} backend calls"
        assert len({orjson.dumps(doc["outputs"]) for _, _, doc in replies}) == 1
        assert {doc["parameters"]["call"] for _, _, doc in replies} == {counting.calls}


async def test_a_crashed_lock_holder_delays_others_at_most_until_its_lock_expires(two_gateways, redis_server):
    http, urls, counting = two_gateways
    # the gateways' key for a request is computable here: check it against what a gateway stored
    probe = v2_body([-1.0])
    assert (await infer(http, urls[0], orjson.dumps(probe)))[1] == "miss"
    probe_key = request_key(v2.decode_request(orjson.dumps(probe)), model="m", backend="m-v1", version=None,
                            tenant=None)
    assert redis_server.cli("exists", probe_key).strip() == "1"

    body = v2_body([42.0])
    key = request_key(v2.decode_request(orjson.dumps(body)), model="m", backend="m-v1", version=None, tenant=None)
    # a replica took the lock and died before answering or unlocking
    redis_server.cli("set", key + ":lock", "crashed-holder", "px", str(int(LOCK_TTL * 1000)))
    started = time.monotonic()
    calls_before = counting.calls
    replies = await asyncio.gather(*(infer(http, urls[i % 2], orjson.dumps(body)) for i in range(6)))
    elapsed = time.monotonic() - started
    assert [s for s, _, _ in replies] == [200] * 6
    assert [doc["outputs"][0]["data"] for _, _, doc in replies] == [[84.0]] * 6
    # waited for the lock (not computed at once), and no longer than the lock's expiry + one backend call
    assert LOCK_TTL * 0.8 <= elapsed <= LOCK_TTL + BACKEND_DELAY + 0.5, elapsed
    assert 1 <= counting.calls - calls_before <= 2  # each process computes once when the lock is gone
