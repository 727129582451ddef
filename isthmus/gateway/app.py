"""The aiohttp low-level server: one handler (:class:`Edge`), no router or middleware chain.

aiohttp's ``Application`` router and middleware machinery cost more per
request than the rest of the proxy path together (docs/benchmarks.md), so the
ingress uses ``web.Server`` and its own URL table (:mod:`isthmus.gateway.routes`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.middleware import Edge


def make_server(dataplane: DataPlane, max_body_size: int) -> web.Server:
    def request_factory(
        message: Any, payload: Any, protocol: RequestHandler, writer: Any, task: "asyncio.Task[None]"
    ) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, asyncio.get_running_loop(), client_max_size=max_body_size
        )

    return web.Server(Edge(dataplane), request_factory=request_factory)
