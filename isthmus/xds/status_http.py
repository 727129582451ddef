"""``GET /status``: clients with their per-type sent/ACKed versions and NACKs, groups, files."""

from __future__ import annotations

from aiohttp import web

from isthmus.xds.cache import SnapshotCache
from isthmus.xds.source import ConfigDirectory
from isthmus.xds.status import ClientRegistry
from isthmus.xds.type_urls import SHORT

REGISTRY = web.AppKey("registry", ClientRegistry)
CACHE = web.AppKey("cache", SnapshotCache)
DIRECTORY = web.AppKey("directory", ConfigDirectory)


def status_app(registry: ClientRegistry, cache: SnapshotCache, directory: ConfigDirectory) -> web.Application:
    app = web.Application()
    app[REGISTRY], app[CACHE], app[DIRECTORY] = registry, cache, directory
    app.router.add_get("/status", _status)
    app.router.add_get("/healthz", _healthz)
    return app


async def _status(request: web.Request) -> web.Response:
    registry, cache, directory = request.app[REGISTRY], request.app[CACHE], request.app[DIRECTORY]
    body = {
        "config_dir": str(directory.directory),
        "groups": {g: {SHORT[t]: v for t, v in s.versions.items()} for g, s in sorted(cache.groups().items())},
        "files": {g: f.as_dict() for g, f in sorted(directory.files.items())},
        "clients": registry.clients(),
        "nack_total": registry.nack_total,
    }
    return web.json_response(body)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})
