"""The ingress edge: request ids, the backend header, and every error as a V2-style JSON body."""

from __future__ import annotations

import logging

from isthmus.backends import BackendError
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.errors import http_status
from isthmus.gateway.headers import BACKEND_HEADER, NO_BACKEND, REQUEST_ID_HEADER, request_id
from isthmus.gateway.http_types import Request, Response, json_error
from isthmus.gateway.rest import HANDLERS
from isthmus.gateway.routes import MethodNotAllowed, NotFound, UrlTable

log = logging.getLogger(__name__)


class Edge:
    """The ingress's one request handler: request id, URL table, handler, every error as JSON."""

    def __init__(self, dataplane: DataPlane):
        self.dataplane = dataplane
        self._urls = UrlTable()

    async def __call__(self, request: Request) -> Response:
        rid = request_id(request.headers)
        backend = NO_BACKEND
        try:
            match = self._urls.resolve(request.method, request.path)
            response = await HANDLERS[match.endpoint](self.dataplane, request, match, rid)
        except NotFound:
            response = json_error(404, f"no such endpoint: {request.method} {request.path}")
        except MethodNotAllowed:
            response = json_error(405, f"method {request.method} not allowed on {request.path}")
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
