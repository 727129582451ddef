"""Pooled HTTP to a backend's endpoints: one pool per endpoint, error translation with the facts
the upstream layer needs (was anything sent? the backend's status and Retry-After)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Callable, Mapping

from isthmus.backends.error_body import body_excerpt
from isthmus.backends.errors import (
    BackendError,
    BackendFailed,
    BackendOverloaded,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from isthmus.deadline import call_timeout
from isthmus.http1 import (
    ConnectError,
    Http1Error,
    Http1Pool,
    PoolFull,
    ProtocolError,
    RequestTimeout,
    Response,
    ResponseTooLarge,
)

JSON_HEADERS = {"Content-Type": "application/json"}
#: answer headers the pools keep (the rest are skipped while parsing)
WANT_HEADERS = frozenset({b"retry-after"})


class HttpTransport:
    """One keep-alive pool per endpoint (``endpoints``, as the config writes them).

    ``request(..., endpoint=i)`` sends to endpoint ``i`` only: the upstream layer picks it, and
    retries elsewhere if it wants (:mod:`isthmus.upstream`). ``endpoint=-1`` rotates over the
    endpoints, and a request whose connection could not be opened moves on to the next one
    (nothing was sent, so it is safe). Every failure becomes a :class:`BackendError`: no
    connection -> :class:`BackendUnavailable` with ``sent=False``; a connection that broke
    after the request was written -> ``sent=True``; ``max_pending`` requests already waiting
    for a connection -> :class:`BackendOverloaded` at once; no answer in time -> :class:`BackendTimeout`.
    """

    def __init__(
        self, backend: str, endpoints: list[str], timeout: float, max_connections: int,
        max_response_size: int = 64 * 2**20, connect_timeout: float = 5.0, max_pending: int | None = None,
    ):  # fmt: skip
        self.backend = backend
        self.endpoints = list(endpoints)
        self._urls = [e.rstrip("/") for e in endpoints]
        self._timeout = timeout
        self._connect_timeout = min(timeout, connect_timeout)
        self._max_connections = max_connections
        self._max_pending = max_pending
        self._max_response_size = max_response_size
        self._next = 0
        self._pools: list[Http1Pool] = []
        self._probe_pools: dict[int, Http1Pool] = {}
        self._closed = False

    async def start(self) -> None:
        if not self._pools:
            self._pools = [
                Http1Pool(
                    e, self._max_connections, connect_timeout=self._connect_timeout, want_headers=WANT_HEADERS,
                    max_response_size=self._max_response_size, max_pending=self._max_pending,
                )  # fmt: skip
                for e in self._urls
            ]

    async def close(self) -> None:
        self._closed = True
        pools, self._pools = self._pools + list(self._probe_pools.values()), []
        self._probe_pools = {}
        for pool in pools:
            await pool.close()

    async def probe(self, endpoint: int, path: str, timeout: float) -> Response | None:
        """``GET path`` on ``endpoint`` for a health check, None when it got no answer in ``timeout``.

        On a connection of its own (one per endpoint, opened on the first probe), as Envoy's
        health checks are: a probe never waits behind the traffic in a busy pool, so a loaded
        endpoint is not mistaken for a dead one."""
        if self._closed:
            return None
        pool = self._probe_pools.get(endpoint)
        if pool is None:
            pool = self._probe_pools[endpoint] = Http1Pool(
                self._urls[endpoint], 1, connect_timeout=min(timeout, self._connect_timeout), max_response_size=2**20
            )
        try:
            return await pool.request("GET", path, timeout=timeout)
        except Http1Error:
            return None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        endpoint: int = -1,
        timeout: float | None = None,
    ) -> Response:
        """One request to ``endpoint`` (-1: the next in turn, with connect failover); ``timeout``
        bounds it (None: the backend's), and so does the app's deadline when nearer."""
        pools = self._pools
        if not pools:
            if self._closed:
                raise BackendUnavailable(self.backend, "closed (its config generation was retired)", sent=False)
            await self.start()
            pools = self._pools
        limit = call_timeout(self._timeout if timeout is None else timeout)  # the app's deadline, when nearer
        if limit < 0.001:
            limit = 0.001
        if endpoint >= 0:
            try:
                return await pools[endpoint].request(method, path, body, headers, limit)
            except Http1Error as exc:
                raise self._error(exc, endpoint, path, limit) from None
        n = len(pools)
        start = self._next
        self._next = (start + 1) % n
        last: Http1Error | None = None
        for i in range(n):
            k = (start + i) % n
            try:
                return await pools[k].request(method, path, body, headers, limit)
            except ConnectError as exc:
                last = exc  # nothing was sent: try the next endpoint
            except Http1Error as exc:
                raise self._error(exc, k, path, limit) from None
        raise BackendUnavailable(self.backend, str(last), sent=False)

    def _error(self, exc: Http1Error, k: int, path: str, limit: float) -> BackendError:
        where = f"{self._urls[k]}{path}"
        if isinstance(exc, ConnectError):
            return BackendUnavailable(self.backend, f"{where}: {exc}", sent=False)
        if isinstance(exc, PoolFull):
            return BackendOverloaded(self.backend, f"{where}: {exc}")
        if isinstance(exc, RequestTimeout):
            return BackendTimeout(self.backend, f"no answer from {where} within {limit:.3g}s")
        if isinstance(exc, ResponseTooLarge):
            return BackendFailed(self.backend, f"{where}: {exc}")
        if isinstance(exc, ProtocolError):
            return BackendUnavailable(self.backend, f"{where}: {exc}", sent=True)
        return BackendFailed(self.backend, f"{where}: {exc}")


# A backend's 4xx that is the app's fault: passed on (404 and 413 as they are, the rest as 400).
_APP_FAULTS = frozenset({400, 404, 409, 413, 415, 422})
# The backend says it is busy or down: unavailable (503), Retry-After honoured by retries.
_BUSY = frozenset({408, 429, 503})


def check_status(backend: str, resp: Response, now: Callable[[], float] = time.time) -> None:
    """Raise for non-2xx answers, carrying an excerpt of the backend's own error message.

    A 4xx that says the request was bad is the app's (no fallback); a 408, 429 or 503 says the
    backend is busy or down (:class:`BackendUnavailable` with ``status`` and ``retry_after``
    from its ``Retry-After``; fallback allowed, 503); anything else — 401/403 (the gateway's own
    credentials), other 4xx, 5xx — is the backend's failure (502, ``upstream_status``). The
    message is ``HTTP <status>: <excerpt>`` (:func:`isthmus.backends.error_body.body_excerpt`:
    the JSON ``error``/``detail`` field or the text, at most ~200 characters, secrets redacted,
    control characters escaped).
    """
    status = resp.status
    if status < 300:
        return
    message = body_excerpt(resp.body)
    if status in _APP_FAULTS:
        raise BackendRejected(backend, message, status if status in (404, 413) else 400)
    if status in _BUSY:
        raise BackendUnavailable(
            backend, f"HTTP {status}: {message}", status=status, retry_after=retry_after(resp.headers, now)
        )
    raise BackendFailed(backend, f"HTTP {status}: {message}", status)


def retry_after(headers: Mapping[bytes, bytes], now: Callable[[], float] = time.time) -> float | None:
    """Seconds an answer's ``Retry-After`` asks for (RFC 9110: delay-seconds or an HTTP-date,
    read by the standard library's ``email.utils``), None when absent or unreadable."""
    value = headers.get(b"retry-after")
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP-date is always GMT; a date without a zone is not one
    return max(0.0, when.timestamp() - now())
