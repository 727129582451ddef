"""REST handlers of the extensions: Triton's model configuration, repository index and
statistics (V2), and KServe V1's liveness (``GET /``), model list and ``:explain``.
Registered in :data:`isthmus.gateway.rest.HANDLERS`; errors become JSON at the edge."""

from __future__ import annotations

import orjson

from isthmus.codecs import CodecError
from isthmus.gateway import extensions
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.explain import explain
from isthmus.gateway.headers import BACKEND_HEADER, CACHE_HEADER
from isthmus.gateway.http_types import Request, Response
from isthmus.gateway.request_meta import request_meta
from isthmus.gateway.routes import Match


def _json(doc: object, status: int = 200) -> Response:
    return Response(status, orjson.dumps(doc))


async def model_config(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json(await extensions.config_of(dp, match.model or "", match.version))


async def repository_index(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    """Triton's body is optional: ``{"ready": true}`` lists only the READY rows."""
    body = await request.read()
    ready_only = False
    if body.strip():
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"request body is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("ready", False), bool):
            raise CodecError('the repository index body must be {} or {"ready": true|false}')
        ready_only = doc.get("ready", False)
    return _json(await extensions.repository_index(dp, ready_only))


async def model_stats(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json(extensions.statistics(dp, match.model, match.version))


async def all_stats(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json(extensions.statistics(dp))


async def live_v1(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    """KServe's ``GET /``: the process is alive (readiness is per model, ``GET /v1/models/{m}``)."""
    return _json({"status": "alive"})


async def models_v1(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json({"models": list(dp.routes.models)})


async def explain_v1(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    meta = request_meta(request.headers, match.model or "", rid)
    body, backend = await explain(dp, await request.read(), meta)
    return Response(200, body, {BACKEND_HEADER: backend, CACHE_HEADER: "bypass"})
