"""A naive aiohttp reverse proxy: the baseline a gateway should beat. Deliberately ~40 lines.

Usage: python naive_proxy.py LISTEN_PORT UPSTREAM_URL
"""

from __future__ import annotations

import sys

from aiohttp import ClientSession, TCPConnector, web

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
SESSION = web.AppKey("session", ClientSession)


def make_app(upstream: str) -> web.Application:
    async def session_ctx(app: web.Application):
        async with ClientSession(upstream, connector=TCPConnector(limit=100)) as session:
            app[SESSION] = session
            yield

    async def proxy(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with request.app[SESSION].request(
            request.method, request.rel_url, data=body, headers=headers
        ) as resp:
            data = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=resp.status, body=data, headers=out)

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


if __name__ == "__main__":
    try:
        import uvloop  # the same event loop the gateway uses when installed
    except ImportError:
        uvloop = None
    port, upstream = int(sys.argv[1]), sys.argv[2]
    web.run_app(make_app(upstream), host="127.0.0.1", port=port, access_log=None, print=None,
                loop=uvloop.new_event_loop() if uvloop else None)
