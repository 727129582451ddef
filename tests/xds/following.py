"""A gateway following a control plane, in this process; the traffic file both tests and processes write."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import orjson

from isthmus.config import Config
from isthmus.gateway import GatewayServer
from isthmus.gateway.xds_sink import GatewaySink
from isthmus.xds.backoff import Backoff
from isthmus.xds.client import gateway_node
from isthmus.xds.follower import Follower
from isthmus.xds.persist import SnapshotFile
from tests.conftest import v2_body
from tests.servers import scripted

BODY = orjson.dumps(v2_body([1.0]))


def traffic(urls: dict[str, str], weights: dict[str, int], onnx: dict[str, str] | None = None) -> dict[str, Any]:
    backends: list[dict[str, Any]] = [
        {"name": n, "protocol": "kserve-v2", "endpoints": [u], "timeout": "2s"} for n, u in urls.items()
    ]
    backends += [{"name": n, "protocol": "onnx", "model_path": p, "warmup": False} for n, p in (onnx or {}).items()]
    variants = [{"backend": n, "weight": w} for n, w in weights.items()]
    return {
        "listener": {"address": "127.0.0.1:18080"},
        "backends": backends,
        "routes": [{"model": "m", "variants": variants}],
    }


def weights_of(server: GatewayServer) -> dict[str, int]:
    config = server.dataplane.state.config
    return {v.backend: v.weight for v in config.routes[0].variants} if config.routes else {}


async def infer(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.post(url + "/v2/models/m/infer", data=BODY) as r:
        await r.read()
        return r.status, r.headers.get("x-isthmus-backend", "-")


async def split(http: aiohttp.ClientSession, url: str, n: int) -> Counter:
    seen: Counter = Counter()
    for _ in range(n):
        status, backend = await infer(http, url)
        assert status == 200
        seen[backend] += 1
    return seen


async def named_backends(serve_app: Callable[[Any], Awaitable[str]]) -> dict[str, str]:
    """Backends ``a``, ``b``, ``c``, each answering its own name (for a test's ``backends`` fixture)."""
    return {n: await serve_app(scripted.make_app(scripted.Script(n))) for n in ("a", "b", "c")}


@asynccontextmanager
async def following_gateway(
    xds_port: int, snapshot: Path | None = None
) -> AsyncIterator[tuple[GatewayServer, Follower]]:
    server = GatewayServer(Config.model_validate({"listener": {"address": "127.0.0.1:0"}}))
    store = SnapshotFile(snapshot) if snapshot is not None else None
    follower = Follower(GatewaySink(server), f"127.0.0.1:{xds_port}", gateway_node("gw-1"), store,
                        backoff=Backoff(initial=0.05, maximum=0.3), initial_timeout=1.0)  # fmt: skip
    await server.start()
    task = asyncio.create_task(follower.run())
    try:
        yield server, follower
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
