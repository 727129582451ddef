"""The ingress edge: request ids, the backend header, and every error as a V2-style JSON body."""

from __future__ import annotations

import logging
import os
import re

import orjson
from aiohttp import web

from isthmus.backends import BackendError
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.errors import http_status
from isthmus.gateway.headers import BACKEND_HEADER, NO_BACKEND, REQUEST_ID_HEADER
from isthmus.gateway.rest import HANDLERS
from isthmus.gateway.routes import MethodNotAllowed, NotFound, resolve

log = logging.getLogger(__name__)
_VALID_ID = re.compile(r"[\x21-\x7e]{1,200}")


def json_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"error": message}), content_type="application/json")


class Edge:
    """The one request handler of the low-level aiohttp server (no router or middleware chain)."""

    def __init__(self, dataplane: DataPlane):
        self.dataplane = dataplane

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        rid = request.headers.get(REQUEST_ID_HEADER)
        if rid is None or not _VALID_ID.fullmatch(rid):
            rid = os.urandom(16).hex()
        backend = NO_BACKEND
        try:
            match = resolve(request.method, request.path)
            response = await HANDLERS[match.endpoint](self.dataplane, request, match, rid)
        except NotFound:
            response = json_error(404, f"no such endpoint: {request.method} {request.path}")
        except MethodNotAllowed:
            response = json_error(405, f"method {request.method} not allowed on {request.path}")
        except web.HTTPRequestEntityTooLarge as exc:
            response = json_error(413, f"request body too large: {exc.text}")
        except web.HTTPException as exc:
            response = json_error(exc.status, exc.text or exc.reason)
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
        headers = response.headers
        if REQUEST_ID_HEADER not in headers:
            headers[REQUEST_ID_HEADER] = rid
        if BACKEND_HEADER not in headers:
            headers[BACKEND_HEADER] = backend
        return response
