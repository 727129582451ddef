"""Edge middleware: request ids, the backend header, and errors as V2-style JSON bodies."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Awaitable, Callable

import orjson
from aiohttp import web

from isthmus.backends import BackendError
from isthmus.gateway.errors import http_status
from isthmus.gateway.keys import BACKEND_HEADER, NO_BACKEND, REQUEST_ID, REQUEST_ID_HEADER

log = logging.getLogger(__name__)
_VALID_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"error": message}), content_type="application/json")


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get(REQUEST_ID_HEADER, "")
    if not _VALID_ID.match(rid):
        rid = uuid.uuid4().hex
    request[REQUEST_ID] = rid
    backend = NO_BACKEND
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = json_error(exc.status, _http_exception_message(request, exc))
    except Exception as exc:
        status = http_status(exc)
        if isinstance(exc, BackendError):
            backend = exc.backend
        if status is None:
            log.exception("request %s: unexpected error", rid)
            status, message = 500, f"internal error (request id {rid})"
        else:
            message = str(exc)
        response = json_error(status, message)
    response.headers.setdefault(REQUEST_ID_HEADER, rid)
    response.headers.setdefault(BACKEND_HEADER, backend)
    return response


def _http_exception_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no such endpoint: {request.method} {request.path}"
    if exc.status == 405:
        return f"method {request.method} not allowed on {request.path}"
    if exc.status == 413:
        return f"request body too large: {exc.text or 'over the limit'}"
    return exc.text or exc.reason
