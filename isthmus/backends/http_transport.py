"""Pooled HTTP to a backend's endpoints: round-robin, connect-failover, error translation."""

from __future__ import annotations

from typing import Mapping

from isthmus.backends.error_body import body_excerpt
from isthmus.backends.errors import (
    BackendFailed,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from isthmus.deadline import call_timeout
from isthmus.http1 import ConnectError, Http1Pool, ProtocolError, RequestTimeout, ResponseTooLarge

JSON_HEADERS = {"Content-Type": "application/json"}


class HttpTransport:
    """One keep-alive pool per endpoint; requests rotate over the endpoints.

    A request whose connection could not be opened moves on to the next
    endpoint (nothing was sent, so it is safe); any other failure is
    final and translated into a :class:`BackendError`.
    """

    def __init__(
        self, backend: str, endpoints: list[str], timeout: float, max_connections: int,
        max_response_size: int = 64 * 2**20,
    ):  # fmt: skip
        self.backend = backend
        self._endpoints = [e.rstrip("/") for e in endpoints]
        self._timeout = timeout
        self._max_connections = max_connections
        self._max_response_size = max_response_size
        self._next = 0
        self._pools: list[Http1Pool] = []
        self._closed = False

    async def start(self) -> None:
        if not self._pools:
            self._pools = [
                Http1Pool(
                    e, self._max_connections, connect_timeout=min(self._timeout, 5.0),
                    max_response_size=self._max_response_size,
                )  # fmt: skip
                for e in self._endpoints
            ]

    async def close(self) -> None:
        self._closed = True
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.close()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        if not self._pools:
            if self._closed:
                raise BackendUnavailable(self.backend, "closed (its config generation was retired)")
            await self.start()
        n = len(self._pools)
        timeout = max(0.001, call_timeout(self._timeout))  # the app's deadline, when nearer
        start = self._next
        self._next = (start + 1) % n
        last: Exception | None = None
        for i in range(n):
            k = (start + i) % n
            try:
                resp = await self._pools[k].request(method, path, body, headers, timeout)
                return resp.status, resp.body
            except ConnectError as exc:
                last = exc  # nothing was sent: try the next endpoint
            except RequestTimeout:
                raise BackendTimeout(
                    self.backend, f"no answer from {self._endpoints[k]}{path} within {timeout:.3g}s"
                ) from None
            except ResponseTooLarge as exc:
                raise BackendFailed(self.backend, f"{self._endpoints[k]}{path}: {exc}") from None
            except ProtocolError as exc:
                raise BackendUnavailable(self.backend, f"{self._endpoints[k]}{path}: {exc}") from None
        raise BackendUnavailable(self.backend, str(last))


# A backend's 4xx that is the app's fault: passed on (404 and 413 as they are, the rest as 400).
_APP_FAULTS = frozenset({400, 404, 409, 413, 415, 422})


def check_status(backend: str, status: int, body: bytes) -> None:
    """Raise for non-2xx answers, carrying an excerpt of the backend's own error message.

    A 4xx that says the request was bad is the app's (no fallback); a 408 or 429 says the
    backend is busy (fallback allowed, 503); anything else — 401/403 (the gateway's own
    credentials), other 4xx, 5xx — is the backend's failure (502). The message is
    ``HTTP <status>: <excerpt>`` (:func:`isthmus.backends.error_body.body_excerpt`: the JSON
    ``error``/``detail`` field or the text, at most ~200 characters, secrets redacted, control
    characters escaped).
    """
    if status < 300:
        return
    message = body_excerpt(body)
    if status in _APP_FAULTS:
        raise BackendRejected(backend, message, status if status in (404, 413) else 400)
    if status in (408, 429):
        raise BackendUnavailable(backend, f"HTTP {status}: {message}")
    raise BackendFailed(backend, f"HTTP {status}: {message}", status)
