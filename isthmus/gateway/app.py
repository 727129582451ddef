"""The aiohttp application: middleware, routes, and the data plane it serves."""

from __future__ import annotations

from aiohttp import web

from isthmus.gateway import rest
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.keys import DATAPLANE
from isthmus.gateway.middleware import edge


def make_app(dataplane: DataPlane, max_body_size: int) -> web.Application:
    app = web.Application(middlewares=[edge], client_max_size=max_body_size)
    app[DATAPLANE] = dataplane
    rest.add_routes(app)
    return app
