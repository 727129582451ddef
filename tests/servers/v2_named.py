"""A strict little V2 REST model server: it serves ONE model name (and optional version), 404s others.

Used behind Envoy to prove a path rewrite: a request for any other model name or version gets
``404 {"error": "model 'x' not found"}``, as KServe and MLServer answer. The answer says which
server answered (``model_name``, ``model_version``) and every path it was asked is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

SERVER_KEY = web.AppKey("server", object)


@dataclass
class NamedModel:
    model: str
    version: str | None = None
    paths: list[str] = field(default_factory=list)


def make_app(named: NamedModel) -> web.Application:
    app = web.Application()
    app[SERVER_KEY] = named
    base = "/v2/models/{name}"
    for prefix in (base, base + "/versions/{version}"):
        app.router.add_post(prefix + "/infer", infer)
        app.router.add_get(prefix + "/ready", ready)
        app.router.add_get(prefix, metadata)
    return app


def _check(request: web.Request) -> web.Response | None:
    named: NamedModel = request.app[SERVER_KEY]  # type: ignore[assignment]
    named.paths.append(request.path)
    name, version = request.match_info["name"], request.match_info.get("version")
    if name != named.model or version != named.version:
        shown = name if version is None else f"{name}' version '{version}"
        return web.json_response({"error": f"model '{shown}' not found"}, status=404)
    return None


async def infer(request: web.Request) -> web.Response:
    named: NamedModel = request.app[SERVER_KEY]  # type: ignore[assignment]
    if (bad := _check(request)) is not None:
        return bad
    doc = await request.json()
    outputs = [{**i, "name": "output-0"} for i in doc.get("inputs", [])]
    body = {"model_name": named.model, "outputs": outputs}
    if named.version is not None:
        body["model_version"] = named.version
    return web.json_response(body)


async def ready(request: web.Request) -> web.Response:
    return _check(request) or web.json_response({"ready": True})


async def metadata(request: web.Request) -> web.Response:
    named: NamedModel = request.app[SERVER_KEY]  # type: ignore[assignment]
    return _check(request) or web.json_response({"name": named.model, "versions": [named.version or "1"],
                                                 "platform": "test", "inputs": [], "outputs": []})  # fmt: skip


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1, a free port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]
