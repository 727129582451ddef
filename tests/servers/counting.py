"""A V2 model server that counts its calls, optionally slow, for cache and coalescing tests.

It answers ``x*2`` for the FP32 input ``input-0``, and says who answered and
which call this was in the response ``parameters`` (``server``, ``call``), so
a test can tell a cached answer from a fresh one. A request parameter
``pad: N`` adds an N-byte BYTES output, to make answers too large to cache.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiohttp import web

COUNTER_KEY = web.AppKey("counter", object)


@dataclass
class Counting:
    name: str = "counting"
    delay: float = 0.0
    calls: int = 0
    by_model: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0


def make_app(counting: Counting) -> web.Application:
    app = web.Application()
    app[COUNTER_KEY] = counting
    app.router.add_post("/v2/models/{model}/infer", infer)
    app.router.add_post("/v2/models/{model}/versions/{version}/infer", infer)
    app.router.add_get("/v2/models/{model}/ready", ready)
    app.router.add_get("/v2/health/ready", ready)
    return app


async def ready(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def infer(request: web.Request) -> web.Response:
    c: Counting = request.app[COUNTER_KEY]  # type: ignore[assignment]
    c.calls += 1
    call = c.calls
    c.by_model[request.match_info["model"]] += 1
    c.in_flight += 1
    c.max_in_flight = max(c.max_in_flight, c.in_flight)
    try:
        doc = orjson.loads(await request.read())
        if c.delay:
            await asyncio.sleep(c.delay)
    finally:
        c.in_flight -= 1
    x = doc["inputs"][0]
    data = x["data"] if isinstance(x["data"], list) else [x["data"]]
    flat = _flatten(data)
    outputs = [{"name": "output-0", "datatype": "FP32", "shape": x["shape"], "data": [float(v) * 2 for v in flat]}]
    pad = (doc.get("parameters") or {}).get("pad")
    if pad:
        outputs.append({"name": "pad", "datatype": "BYTES", "shape": [1], "data": ["p" * int(pad)]})
    return web.json_response({"model_name": request.match_info["model"],
                              "parameters": {"server": c.name, "call": call}, "outputs": outputs})


def _flatten(data: list) -> list:
    out: list = []
    for v in data:
        out.extend(_flatten(v) if isinstance(v, list) else [v])
    return out
