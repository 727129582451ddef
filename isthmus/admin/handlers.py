"""The admin API's one request handler: GET-only endpoints in the spirit of Envoy's admin interface.

Every answer is JSON except ``/metrics`` (Prometheus exposition); every error is
``{"error": "<what is wrong>"}`` with 404 (no such endpoint) or 405 (not GET/HEAD).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Awaitable, Callable

import orjson

from isthmus.admin.base import AdminSources
from isthmus.gateway.http_types import Request, Response, json_error

log = logging.getLogger(__name__)

ENDPOINTS: dict[str, str] = {
    "/": "this list",
    "/ready": "200 when the gateway should get traffic, else 503 with the reasons (readiness probe)",
    "/live": "200 while the event loop answers (liveness probe)",
    "/metrics": "Prometheus metrics (text exposition format)",
    "/config_dump": "the effective config: routes, backends, weights, version, source; secrets redacted",
}
_METHODS = ("GET", "HEAD")
_NO_STORE = {"cache-control": "no-store"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host of a ``Host`` header value (``h``, ``h:port``, ``[::1]:port``)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class AdminHandler:
    """``await handler(request) -> Response`` over an :class:`AdminSources`; never mutates anything.

    ``loopback_hosts_only`` (the API is bound to loopback): a request whose ``Host`` names
    anything else is refused with 403, so a web page cannot read the API through DNS rebinding.
    """

    def __init__(self, sources: AdminSources, *, loopback_hosts_only: bool = False):
        self._sources = sources
        self._loopback_hosts_only = loopback_hosts_only
        self._routes: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "/": self._index,
            "/ready": self._ready,
            "/live": self._live,
            "/metrics": self._metrics,
            "/config_dump": self._config_dump,
        }

    async def __call__(self, request: Request) -> Response:
        if self._loopback_hosts_only:
            host = request.headers.get("host")
            if host is not None and not is_loopback(host_of(host)):
                message = f"the admin API answers requests to a loopback host only, not {host!r}"
                return json_error(403, message, dict(_NO_STORE))
        endpoint = self._routes.get(request.path)
        if endpoint is None:
            known = ", ".join(ENDPOINTS)
            return json_error(404, f"no such admin endpoint: {request.path} (endpoints: {known})", dict(_NO_STORE))
        if request.method not in _METHODS:
            allow = {"allow": ", ".join(_METHODS), **_NO_STORE}
            message = f"method {request.method} not allowed on {request.path}: the admin API is read-only (GET)"
            return json_error(405, message, allow)
        try:
            return await endpoint(request)
        except Exception as exc:  # a bug in one endpoint must not take the admin API down
            log.exception("admin endpoint %s failed", request.path)
            return json_error(500, f"admin endpoint {request.path} failed: {exc!r}", dict(_NO_STORE))

    async def _index(self, request: Request) -> Response:
        return _json(200, {"endpoints": ENDPOINTS})

    async def _ready(self, request: Request) -> Response:
        r = self._sources.readiness()
        if r.ready:
            return _json(200, {"ready": True})
        reasons = list(r.reasons) or ["not ready"]
        return _json(503, {"ready": False, "reasons": reasons, "error": "not ready: " + "; ".join(reasons)})

    async def _live(self, request: Request) -> Response:
        return _json(200, {"live": True})

    async def _metrics(self, request: Request) -> Response:
        # A scrape is CPU work in proportion to the series (tens of ms for a few hundred histogram
        # series): in a thread, so the event loop keeps serving requests meanwhile (the collection
        # only reads counters, as the OTLP exporter's thread does).
        scrape = await asyncio.to_thread(self._sources.metrics, request.headers.get("accept"))
        if scrape is None:
            return json_error(404, "this gateway exports no metrics (telemetry is off)", dict(_NO_STORE))
        return Response(200, scrape.body, dict(_NO_STORE), scrape.content_type)

    async def _config_dump(self, request: Request) -> Response:
        return _json(200, self._sources.config_dump(), orjson.OPT_INDENT_2)


def _json(status: int, doc: object, option: int = 0) -> Response:
    return Response(status, orjson.dumps(doc, option=option), dict(_NO_STORE))

