"""Pooled HTTP to a backend's endpoints: round-robin, connect-failover, error translation."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import aiohttp
import orjson

from isthmus.backends.errors import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable

JSON_HEADERS = {"Content-Type": "application/json"}


class HttpTransport:
    """One connection pool per backend; requests rotate over its endpoints.

    A request whose connection could not be opened moves on to the next
    endpoint (nothing was sent, so it is safe); any other failure is
    final and translated into a :class:`BackendError`.
    """

    def __init__(self, backend: str, endpoints: list[str], timeout: float, max_connections: int):
        self.backend = backend
        self._endpoints = [e.rstrip("/") for e in endpoints]
        self._timeout = timeout
        self._max_connections = max_connections
        self._next = 0
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                skip_auto_headers=("User-Agent",),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self._session is None:
            await self.start()
        assert self._session is not None
        n = len(self._endpoints)
        start = self._next
        self._next = (start + 1) % n
        last: Exception | None = None
        for i in range(n):
            url = self._endpoints[(start + i) % n] + path
            try:
                async with self._session.request(method, url, data=body, headers=headers) as resp:
                    return resp.status, await resp.read()
            except aiohttp.ClientConnectorError as exc:
                last = exc  # nothing was sent: try the next endpoint
            except asyncio.TimeoutError:
                raise BackendTimeout(self.backend, f"no answer from {url} within {self._timeout:g}s") from None
            except aiohttp.ClientError as exc:
                raise BackendUnavailable(self.backend, f"{url}: {exc.__class__.__name__}: {exc}") from None
        raise BackendUnavailable(self.backend, f"cannot connect: {last}")


def check_status(backend: str, status: int, body: bytes) -> None:
    """Raise for non-2xx answers, carrying the backend's own error message."""
    if status < 300:
        return
    message = error_message(body)
    if 400 <= status < 500:
        raise BackendRejected(backend, message, 404 if status == 404 else (400 if status != 413 else 413))
    raise BackendFailed(backend, f"HTTP {status}: {message}")


def error_message(body: bytes) -> str:
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(doc, dict):
        for key in ("error", "detail", "message"):
            if key in doc:
                return str(doc[key])[:300]
    return str(doc)[:300]
