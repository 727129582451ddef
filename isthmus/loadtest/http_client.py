"""A small, fast HTTP/1.1 keep-alive client for load generation.

A fixed pool of connections, each with at most one request in flight (no pipelining). Requests
are serialised to bytes before the run; responses are parsed by ``httptools`` (llhttp), and only
the status, the ``x-isthmus-backend`` header and the body length are kept. Each socket lives in
one ``_Wire`` (an asyncio Protocol); when the server closes it, or a request fails on it, the
slot gets a fresh wire that connects on its next request.

It implements the engine's ``Transport`` protocol: ``send(prepared, token)`` never blocks and
the pool calls ``on_done(token, status, backend, error)`` exactly once per request, where error
is None, ``"connect"``, ``"timeout"`` or ``"protocol"``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import httptools

from isthmus.loadtest.errors import LoadTestError
from isthmus.loadtest.workload import Request

BACKEND_HEADER = b"x-isthmus-backend"
DoneCallback = Callable[[object, int, "str | None", "str | None"], None]


class TargetError(LoadTestError, ValueError):
    """A target URL the client cannot send to."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # "" when the URL names no path

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"target must be an http:// or https:// URL with a host, got {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetError(f"bad port in {url!r}") from exc
    path = parts.path if parts.path not in ("", "/") else ""
    if parts.query:
        path = f"{path or '/'}?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path)


def serialise(target: Target, request: Request) -> bytes:
    """The request's bytes on the wire: a POST with a JSON body on a keep-alive connection."""
    lines = [
        f"POST {target.path or request.path} HTTP/1.1",
        f"host: {target.host_header}",
        "content-type: application/json",
        f"content-length: {len(request.body)}",
        *(f"{k}: {v}" for k, v in request.headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


class _Wire(asyncio.Protocol):
    """One socket's lifetime: at most one request in flight."""

    __slots__ = ("pool", "transport", "parser", "token", "started", "backend", "status", "complete",
                 "keep_alive", "got_bytes", "closed", "connecting")

    def __init__(self, pool: HttpTransport) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.token: object | None = None
        self.started = 0.0
        self.backend: str | None = None
        self.status = 0
        self.complete = False
        self.keep_alive = True
        self.got_bytes = False
        self.closed = False
        self.connecting: asyncio.Task[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.fail("protocol")
            return
        if self.complete:
            self.complete = False
            token, status, backend = self.token, self.status, self.backend
            self.token, self.backend, self.got_bytes = None, None, False
            if not self.keep_alive:
                self.close()
            if token is None:
                self.fail("protocol")  # an answer nobody asked for
                return
            self.pool.finished(self, token, status, backend, None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            if self.token is not None:
                self.report("protocol" if self.got_bytes else "connect")

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == BACKEND_HEADER:
            self.backend = value.decode("latin-1")

    def on_message_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    # used by the pool
    def send(self, data: bytes, token: object, now: float) -> None:
        self.token, self.started = token, now
        if self.transport is None:
            self.connecting = asyncio.get_running_loop().create_task(self._connect_then_write(data))
        else:
            self.transport.write(data)

    async def _connect_then_write(self, data: bytes) -> None:
        try:
            await self.pool.connect(self)
        except (OSError, asyncio.TimeoutError, ssl.SSLError):
            self.closed = True
            self.report("connect")
            return
        finally:
            self.connecting = None
        if self.closed or self.transport is None:
            return
        self.transport.write(data)

    def report(self, error: str) -> None:
        token, self.token = self.token, None
        if token is not None:
            self.pool.finished(self, token, 0, None, error)

    def fail(self, error: str) -> None:
        """Give up on this socket and its request (timeout, bad response, end of run)."""
        self.close()
        self.report(error)

    def close(self) -> None:
        self.closed = True
        if self.connecting is not None:
            self.connecting.cancel()
        if self.transport is not None:
            self.transport.abort()


class HttpTransport:
    """``connections`` keep-alive connections to one target, with a per-request timeout."""

    def __init__(
        self,
        url: str,
        *,
        connections: int,
        timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.target = parse_target(url)
        if self.target.scheme == "https" and ssl_context is None:
            ssl_context = ssl.create_default_context()
        self.ssl_context = ssl_context if self.target.scheme == "https" else None
        self.slots = connections
        self.timeout_s = timeout_s
        self._clock = clock
        self._on_done: DoneCallback | None = None
        self._idle: list[_Wire] = []
        self._busy: set[_Wire] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def prepare(self, request: Request) -> bytes:
        return serialise(self.target, request)

    async def connect(self, wire: _Wire) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(
            loop.create_connection(
                lambda: wire, self.target.host, self.target.port, ssl=self.ssl_context,
                server_hostname=self.target.host if self.ssl_context else None,
            ),
            self.timeout_s,
        )

    async def start(self, on_done: DoneCallback) -> None:
        """Open the pool (failures are left for the first requests to report) and start the timeout sweep."""
        self._on_done = on_done
        wires = [_Wire(self) for _ in range(self.slots)]

        async def warm(wire: _Wire) -> None:
            try:
                await self.connect(wire)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                wire.closed = True

        await asyncio.gather(*(warm(w) for w in wires))
        self._idle = [w if not w.closed else _Wire(self) for w in wires]
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def send(self, prepared: bytes, token: object) -> None:
        wire = self._idle.pop()
        if wire.closed:
            wire = _Wire(self)
        self._busy.add(wire)
        wire.send(prepared, token, self._clock())

    def finished(self, wire: _Wire, token: object, status: int, backend: str | None, error: str | None) -> None:
        self._busy.discard(wire)
        self._idle.append(wire if not wire.closed else _Wire(self))
        assert self._on_done is not None
        self._on_done(token, status, backend, error)

    async def _sweep(self) -> None:
        period = min(max(self.timeout_s / 10, 0.005), 0.1)
        while True:
            await asyncio.sleep(period)
            deadline = self._clock() - self.timeout_s
            for wire in [w for w in self._busy if w.started < deadline]:
                wire.fail("connect" if wire.connecting is not None else "timeout")

    def abort_all(self, error: str = "timeout") -> None:
        """Fail every request in flight (the end of a run's grace period)."""
        for wire in list(self._busy):
            wire.fail(error)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for wire in [*self._idle, *self._busy]:
            wire.closed = True
            wire.token = None
            if wire.transport is not None:
                wire.transport.close()
        self._idle, self._busy = [], set()
        await asyncio.sleep(0)


def client_ssl_context(*, insecure: bool = False, cacert: str | None = None) -> ssl.SSLContext:
    """Verify the server against the system CAs (or ``cacert``); ``insecure`` verifies nothing."""
    context = ssl.create_default_context(cafile=cacert)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
