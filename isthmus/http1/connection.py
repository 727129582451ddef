"""One HTTP/1.1 client connection: write a request, parse one response with httptools."""

from __future__ import annotations

import asyncio

import httptools


class ConnectionClosed(Exception):
    """The peer closed the connection before a complete response; ``received`` says if any byte came."""

    def __init__(self, received: bool, detail: str):
        self.received = received
        super().__init__(detail)


class BadResponse(Exception):
    pass


class TimedOut(Exception):
    pass


class TooLarge(BadResponse):
    """The answer's body is over the connection's limit (the connection is closed)."""


class Http1Connection(asyncio.Protocol):
    __slots__ = (
        "transport", "_parser", "_future", "_status", "_body", "_headers", "_keep_alive", "_received",
        "_header_name", "closed", "_want_headers", "_timer", "_max_body", "_size",
    )  # fmt: skip

    def __init__(self, want_headers: frozenset[bytes] = frozenset(), max_body: int = 64 * 2**20):
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._future: asyncio.Future[tuple[int, dict[bytes, bytes], bytes]] | None = None
        self._body: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}
        self._want_headers = want_headers
        self._header_name = b""
        self._keep_alive = True
        self._received = False
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._max_body = max_body  # largest answer body accepted
        self._size = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"malformed HTTP response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionClosed(self._received, f"connection closed by peer{f': {exc}' if exc else ''}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in self._want_headers:
            self._headers[name] = value
        elif name == b"content-length" and value.isdigit() and int(value) > self._max_body:
            self._too_large(f"{int(value)} bytes announced")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            self._too_large("over it")
            return
        self._body.append(body)

    def _too_large(self, detail: str) -> None:
        if self._future is not None:
            self._fail(TooLarge(f"answer larger than the limit of {self._max_body} bytes ({detail})"))
        self.close()

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        fut, self._future = self._future, None
        if fut is not None and not fut.done():
            fut.set_result((self._parser.get_status_code(), self._headers, b"".join(self._body)))

    # API
    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep_alive and self._future is None

    def send(self, data: bytes, timeout: float | None) -> asyncio.Future[tuple[int, dict[bytes, bytes], bytes]]:
        """Write one request; the future fails with :class:`TimedOut` (and the connection closes) after
        ``timeout``, or when :meth:`expire` is called (``timeout=None``: the caller keeps the deadline)."""
        assert self.transport is not None and self._future is None
        loop = asyncio.get_running_loop()
        self._future = loop.create_future()
        if timeout is not None:
            self._timer = loop.call_later(timeout, self._timed_out)
        self._body = []
        self._size = 0
        self._headers = {}
        self._received = False
        self.transport.write(data)
        return self._future

    def expire(self) -> None:
        """The request's deadline passed (see :class:`isthmus.http1.deadlines.Deadlines`)."""
        self._timed_out()

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(TimedOut())
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        fut, self._future = self._future, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)
