"""A bounded keep-alive connection pool to one HTTP/1.1 endpoint."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from isthmus.http1.connection import (
    BadResponse,
    ConnectionClosed,
    Http1Connection,
    TimedOut,
    TooLarge,
)
from isthmus.http1.deadlines import COARSE_MIN, Deadlines


class Http1Error(Exception):
    """Root of this client's errors."""


class ConnectError(Http1Error):
    """No connection could be opened: nothing was sent."""


class PoolFull(Http1Error):
    """No free connection and ``max_pending`` requests already waiting for one: refused at once,
    nothing was sent (the caller's circuit breaker: ``circuit_breakers.max_pending``)."""


class RequestTimeout(Http1Error):
    pass


class ProtocolError(Http1Error):
    """The connection broke or the answer was not HTTP, after the request was sent."""


class ResponseTooLarge(ProtocolError):
    """The answer's body was over the pool's ``max_response_size``."""


@dataclass(slots=True)  # treated as immutable; not frozen (hot path: isthmus.codecs.tensors)
class Response:
    status: int
    headers: Mapping[bytes, bytes]
    body: bytes


class Http1Pool:
    """Up to ``max_connections`` keep-alive connections to ``base_url``'s host.

    A request takes an idle connection or opens one, else waits for one to
    be released; when ``max_pending`` requests already wait, it fails at once
    with :class:`PoolFull` (None: no bound). A reused connection that the server had already closed
    (the keep-alive race) is retried once on a fresh connection, since the
    server received nothing.
    """

    def __init__(
        self,
        base_url: str,
        max_connections: int = 100,
        connect_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        want_headers: frozenset[bytes] = frozenset(),
        max_response_size: int = 64 * 2**20,
        max_pending: int | None = None,
    ):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self._ssl = ssl_context if ssl_context is not None else (ssl.create_default_context() if parts.scheme == "https" else None)
        self._host_header = f"{self.host}:{self.port}" if parts.port else self.host
        self._max = max_connections
        self._max_pending = max_pending
        self._connect_timeout = connect_timeout
        self._want_headers = want_headers
        self._max_response_size = max_response_size
        self._idle: deque[Http1Connection] = deque()
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._deadlines = Deadlines()

    @property
    def idle_connections(self) -> int:
        """Open connections waiting for a request (read by telemetry at collection time)."""
        return len(self._idle)

    @property
    def pending_requests(self) -> int:
        """Requests waiting for a free connection."""
        return len(self._waiters)

    @property
    def in_use_connections(self) -> int:
        """Open (or opening) connections carrying a request."""
        return self._open - len(self._idle)

    def build(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\nContent-Length: {len(body)}\r\n"]
        for k, v in headers.items():
            lines.append(f"{k}: {v}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1") + body

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> Response:
        """One request; ``timeout`` bounds the whole call: waiting for a connection, connecting and the answer
        (a remaining wait of a second or more is checked on a 50 ms tick: :mod:`isthmus.http1.deadlines`)."""
        data = self.build(method, path, body, headers or {})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for attempt in (0, 1):
            conn = self._idle_connection()  # the common case, without a coroutine
            if conn is not None:
                reused = True
            else:
                conn, reused = await self._acquire(deadline, timeout)
            remaining = deadline - loop.time()
            try:
                if remaining >= COARSE_MIN:  # checked on the pool's tick: no timer per request
                    self._deadlines.watch(conn, deadline)
                    try:
                        status, got_headers, got_body = await conn.send(data, None)
                    finally:
                        self._deadlines.unwatch(conn)
                else:
                    status, got_headers, got_body = await conn.send(data, remaining)
            except TimedOut:
                self._discard(conn)
                raise RequestTimeout(f"no answer within {timeout:g}s") from None
            except ConnectionClosed as exc:
                self._discard(conn)
                if reused and not exc.received and attempt == 0:
                    continue  # stale keep-alive connection: the server never saw the request
                raise ProtocolError(str(exc)) from None
            except TooLarge as exc:
                self._discard(conn)
                raise ResponseTooLarge(str(exc)) from None
            except BadResponse as exc:
                self._discard(conn)
                raise ProtocolError(str(exc)) from None
            except BaseException:
                self._discard(conn)  # cancelled (timeout) mid-request: the connection is unusable
                raise
            self._release(conn)
            return Response(status, got_headers, got_body)
        raise AssertionError("unreachable")

    def _idle_connection(self) -> Http1Connection | None:
        """A reusable idle connection, or None; dead ones found on the way are discarded."""
        while self._idle and not self._closed:
            conn = self._idle.pop()
            if conn.reusable:
                return conn
            self._discard(conn)
        return None

    async def _acquire(self, deadline: float, timeout: float) -> tuple[Http1Connection, bool]:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise ConnectError("connection pool closed")
        while True:
            conn = self._idle_connection()
            if conn is not None:
                return conn, True
            if self._open < self._max:
                self._open += 1
                try:
                    return await self._connect(min(self._connect_timeout, max(0.0, deadline - loop.time()))), False
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            if self._max_pending is not None and len(self._waiters) >= self._max_pending:
                raise PoolFull(
                    f"all {self._max} connections to {self.host}:{self.port} busy and "
                    f"{len(self._waiters)} requests waiting (max_pending)"
                )
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
            except BaseException as exc:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake()  # woken but leaving: hand the free connection on, or it is lost
                if isinstance(exc, TimeoutError):
                    raise RequestTimeout(f"no free connection within {timeout:g}s") from None
                raise
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # cancelled as it was woken: Python 3.11's wait_for returns the result then and
                # swallows the cancellation; leave, handing the free connection on
                self._wake()
                raise asyncio.CancelledError
            if self._closed:
                raise ConnectError("connection pool closed")

    async def _connect(self, timeout: float) -> Http1Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Http1Connection(self._want_headers, self._max_response_size), self.host, self.port,
                    ssl=self._ssl, server_hostname=self.host if self._ssl else None,
                ),
                timeout,
            )
        except TimeoutError:
            raise ConnectError(f"connect to {self.host}:{self.port} timed out after {timeout:g}s") from None
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        return conn

    def _release(self, conn: Http1Connection) -> None:
        if conn.reusable and not self._closed:
            self._idle.append(conn)
            self._wake()
        else:
            self._discard(conn)

    def _discard(self, conn: Http1Connection) -> None:
        conn.close()
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._discard(self._idle.pop())
