"""A tiny V2 model server for transport tests: delay, status and counts are scripted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

SCRIPT_KEY = web.AppKey("script", object)


@dataclass
class Script:
    name: str
    delay: float = 0.0
    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)  # added to every answer
    calls: list[str] = field(default_factory=list)


def make_app(script: Script) -> web.Application:
    app = web.Application()
    app[SCRIPT_KEY] = script
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def handle(request: web.Request) -> web.Response:
    script: Script = request.app[SCRIPT_KEY]  # type: ignore[assignment]
    script.calls.append(f"{request.method} {request.path}")
    if script.delay:
        await asyncio.sleep(script.delay)
    if script.body is not None:
        return web.Response(status=script.status, body=script.body, content_type="application/json",
                            headers=script.headers)  # fmt: skip
    return web.json_response(
        {"model_name": script.name, "outputs": [{"name": "output-0", "datatype": "FP32", "shape": [1], "data": [1.0]}]},
        status=script.status, headers=script.headers,
    )
