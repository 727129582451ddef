"""The ingress HTTP/1.1 server: asyncio Protocol + httptools (llhttp), one handler coroutine.

aiohttp's server cost more per request than the rest of the proxy path
(docs/benchmarks.md), so the ingress parses with httptools directly, as
uvicorn does, and keeps only what an inference endpoint needs: keep-alive,
pipelining (answers in order), chunked request bodies, ``Expect:
100-continue``, gzip/deflate request bodies
(:mod:`isthmus.gateway.compression`), a body size limit answered with 413
(on the decompressed body), malformed requests
answered with 400, HEAD, idle-connection timeouts, TLS (through asyncio),
and a graceful stop that lets requests in flight finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from http import HTTPStatus
from typing import Awaitable, Callable
from urllib.parse import unquote_to_bytes

import httptools

from isthmus.gateway.compression import BodyError, decode_body
from isthmus.gateway.headers import BACKEND_HEADER, NO_BACKEND, REQUEST_ID_HEADER, request_id
from isthmus.gateway.http_types import Headers, Request, Response, json_error

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_MAX_QUEUED = 32  # pipelined requests buffered per connection before reading pauses
MAX_HEAD = 64 * 1024  # request line + headers
HEAD_TIMEOUT = 10.0  # seconds (checked at this period too) to receive a request's line and headers once it has started


def _error(status: int, message: str, headers: Headers) -> Response:
    return json_error(status, message, {BACKEND_HEADER: NO_BACKEND, REQUEST_ID_HEADER: request_id(headers)})


def encode_response(resp: Response, keep_alive: bool, head: bool = False) -> bytes:
    """Status line, headers and body as one buffer (header values are ours: names from the config,
    validated request ids, fixed words; none can carry a line break)."""
    parts = [
        f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Unknown')}\r\nContent-Type: {resp.content_type}\r\n"
        f"Content-Length: {len(resp.body)}\r\n"
    ]
    for k, v in resp.headers.items():
        parts.append(f"{k}: {v}\r\n")
    parts.append("\r\n" if keep_alive else "Connection: close\r\n\r\n")
    head_bytes = "".join(parts).encode("latin-1")
    return head_bytes if head else head_bytes + resp.body


class HttpProtocol(asyncio.Protocol):
    __slots__ = (
        "_handler", "_max_body", "_server", "_transport", "_parser", "_url", "_headers", "_body", "_size",
        "_refused", "_queue", "_task", "_paused", "_closing", "_last_activity", "_timer", "_idle_timeout",
        "_head_size", "_head_started", "_queued_bytes", "_busy", "_wakeup",
    )  # fmt: skip

    def __init__(self, handler: Handler, max_body: int, server: HttpServer, idle_timeout: float):
        self._handler = handler
        self._max_body = max_body
        self._server = server
        self._idle_timeout = idle_timeout
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers = Headers()
        self._body: list[bytes] = []
        self._size = 0
        self._refused = False
        self._head_size = 0
        self._head_started: float | None = None  # set while a request's head is being received
        self._queued_bytes = 0
        # requests waiting to be served in order, or a final error answer (a Response) for a refused one
        self._queue: deque[tuple[Request | Response, bool]] = deque()
        # one serving task per connection, created by the first request; between requests it waits
        # on _wakeup (cheaper than a task per request on a keep-alive connection)
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._busy = False  # a request is being handled
        self._paused = False
        self._closing = False
        self._last_activity = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        self._timer = loop.call_later(min(self._idle_timeout, HEAD_TIMEOUT), self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the app hung up: stop waiting for its answer

    def data_received(self, data: bytes) -> None:
        self._last_activity = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self._refused:
                self._reject(400, f"malformed HTTP request: {exc}")

    # --- httptools callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = Headers()
        self._body = []
        self._size = 0
        self._head_size = 0
        self._head_started = self._last_activity

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def _count_head(self, n: int) -> None:
        self._head_size += n
        if self._head_size > MAX_HEAD and not self._refused:
            self._reject(431, f"request line and headers over the limit of {MAX_HEAD} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        if key in headers:
            dict.__setitem__(headers, key, dict.__getitem__(headers, key) + ", " + text)
        else:
            dict.__setitem__(headers, key, text)

    def on_headers_complete(self) -> None:
        self._head_started = None
        if self._refused:
            return
        length = dict.get(self._headers, "content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            self._reject(413, f"request body too large: {length} bytes, the limit is {self._max_body}")
            return
        expect = dict.get(self._headers, "expect", "").lower() == "100-continue"
        if expect and self._transport is not None and not self._busy and not self._queue:
            # only when nothing is pending: an interim answer must not overtake earlier final ones
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            if not self._refused:
                self._reject(413, f"request body too large: over the limit of {self._max_body} bytes")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        raw = self._url.split(b"?", 1)[0] if b"?" in self._url else self._url
        path = (unquote_to_bytes(raw) if b"%" in raw else raw).decode("utf-8", "replace")
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        coding = dict.get(self._headers, "content-encoding")
        if coding is not None:  # compressed: the size limit applies to what it inflates to
            try:
                body = decode_body(body, coding, self._max_body)
            except BodyError as exc:
                self._enqueue(_error(exc.status, str(exc), self._headers), self._parser.should_keep_alive(), 0)
                return
            dict.pop(self._headers, "content-encoding")
        request = Request(self._parser.get_method().decode(), path, self._headers, body, self._transport)
        self._enqueue(request, self._parser.should_keep_alive(), len(body))

    def _enqueue(self, item: Request | Response, keep_alive: bool, size: int) -> None:
        self._queue.append((item, keep_alive))
        self._queued_bytes += size
        crowded = len(self._queue) > _MAX_QUEUED or self._queued_bytes > self._max_body
        if crowded and self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve())
        elif self._wakeup is not None:
            wakeup, self._wakeup = self._wakeup, None
            if not wakeup.done():
                wakeup.set_result(None)

    # --- serving -----------------------------------------------------------------------------
    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                if not self._queue:
                    self._wakeup = loop.create_future()
                    await self._wakeup  # set by _enqueue; connection_lost cancels the task
                    continue
                request, keep_alive = self._queue.popleft()
                if isinstance(request, Response):  # a refused request: answer in turn (then close if unreadable)
                    self._write(encode_response(request, keep_alive and not self._server.stopping))
                    if not keep_alive or self._server.stopping:
                        self._close()
                        return
                    continue
                self._queued_bytes -= len(request.body)
                roomy = len(self._queue) <= _MAX_QUEUED // 2 and self._queued_bytes <= self._max_body // 2
                if self._paused and roomy and self._transport is not None and not self._refused:
                    self._paused = False
                    self._transport.resume_reading()
                self._server.in_flight += 1
                self._busy = True
                try:
                    response = await self._handler(request)
                finally:
                    self._server.in_flight -= 1
                    self._busy = False
                keep_alive = keep_alive and not self._server.stopping
                self._write(encode_response(response, keep_alive, request.method == "HEAD"))
                if not keep_alive:
                    self._close()
                    return
        finally:
            self._task = None

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _reject(self, status: int, message: str) -> None:
        """Refuse an unreadable request: stop reading (the rest of the stream cannot be trusted),
        answer it after the answers to the requests before it, then close."""
        self._refused = True
        if self._transport is not None and not self._transport.is_closing():
            if not self._paused:
                self._paused = True
                self._transport.pause_reading()
            self._enqueue(_error(status, message, self._headers), False, 0)

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        if self._head_started is not None and loop.time() - self._head_started > HEAD_TIMEOUT:
            self._close()  # a head trickling in byte by byte: a slow client holding a connection
            return
        idle_for = loop.time() - self._last_activity
        busy = self._busy or bool(self._queue)
        if idle_for >= self._idle_timeout and not busy:
            self._close()
            return
        wait = self._idle_timeout - idle_for if idle_for < self._idle_timeout else self._idle_timeout
        self._timer = loop.call_later(min(wait, HEAD_TIMEOUT), self._check_idle)

    def close_if_idle(self) -> bool:
        if not self._busy and not self._queue:
            self._close()
            return True
        return False


class HttpServer:
    """Owns the listening socket and its connections; ``stop`` drains requests in flight."""

    def __init__(self, handler: Handler, max_body: int, idle_timeout: float = 75.0):
        self._handler = handler
        self._max_body = max_body
        self._idle_timeout = idle_timeout
        self.connections: set[HttpProtocol] = set()
        self.in_flight = 0
        self.stopping = False
        self._server: asyncio.Server | None = None

    def protocol(self) -> HttpProtocol:
        return HttpProtocol(self._handler, self._max_body, self, self._idle_timeout)

    async def listen(self, host: str, port: int, ssl: object = None, reuse_port: bool = False) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.protocol, host, port, ssl=ssl, backlog=1024, reuse_port=reuse_port or None  # type: ignore[arg-type]
        )
        return self._server.sockets[0].getsockname()[1]

    async def stop(self, grace: float = 10.0) -> None:
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close_if_idle()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn._close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
