"""A fault-injecting TCP proxy, in process: put it between a client and a server and make the path
refuse, reset, swallow, slow or throttle connections, switching the fault while traffic flows.

    proxy = ChaosProxy("127.0.0.1", server_port)
    await proxy.start()                       # listens on 127.0.0.1:<free port>: proxy.address
    await proxy.set(Chaos("refuse"))          # connects are refused (the listener is closed)
    await proxy.set(Chaos("reset", reset_after=5))   # answers cut by a TCP RST after 5 bytes
    await proxy.set(Chaos("blackhole"))       # connections accepted, requests swallowed, no answer
    await proxy.set(Chaos("latency", down=0.2))      # 200 ms added to every answer chunk
    await proxy.set(Chaos("throttle", rate=10_000))  # 10 kB/s each way, each connection
    await proxy.set(Chaos())                  # pass
    proxy.stats.connections, proxy.stats.bytes_down ...
    await proxy.close()

Byte-level, so it serves HTTP/1.1, HTTP/2 and gRPC alike. What each fault does:

- ``pass``: bytes go both ways unchanged.
- ``refuse``: the listening socket is closed, so connects get ECONNREFUSED (a server that is down);
  open connections are closed (FIN), as a dying server's are. Leaving ``refuse`` listens again on
  the same port.
- ``reset``: requests still reach the server; once its answer starts, ``reset_after`` bytes of it
  are let through and then both sides are cut with a TCP RST (SO_LINGER 0): a connection that
  breaks after the request was sent.
- ``blackhole``: new connections are accepted and never connected upstream; what the client sends
  is read and dropped, nothing ever comes back. On open connections, bytes stop flowing both ways.
- ``latency``: each chunk is delivered ``up`` (client -> server) / ``down`` (server -> client)
  seconds after it arrived, order kept.
- ``throttle``: each direction of each connection carries at most ``rate`` bytes/s.

The fault is read as each chunk flows, so a switch takes effect on open connections at once
(``refuse`` closes them). Hand-written on asyncio streams: the off-the-shelf fault proxies
(toxiproxy, Envoy's fault filter) are separate processes with no in-process switch or byte
counts, and Envoy's fault filter works on HTTP requests, not connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import Literal

Mode = Literal["pass", "refuse", "reset", "blackhole", "latency", "throttle"]
MODES: tuple[Mode, ...] = ("pass", "refuse", "reset", "blackhole", "latency", "throttle")
_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Chaos:
    """One fault: ``mode`` and its parameters (``up``/``down`` seconds for latency, ``rate``
    bytes/s for throttle, ``reset_after`` answer bytes for reset)."""

    mode: Mode = "pass"
    up: float = 0.0
    down: float = 0.0
    rate: float = 0.0
    reset_after: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown chaos mode {self.mode!r}: one of {', '.join(MODES)}")
        if self.up < 0 or self.down < 0:
            raise ValueError("latency must be >= 0 seconds")
        if self.mode == "throttle" and self.rate <= 0:
            raise ValueError("throttle needs rate > 0 (bytes/s)")
        if self.reset_after < 0:
            raise ValueError("reset_after must be >= 0 bytes")


@dataclass(slots=True)
class ProxyStats:
    """Counts since the proxy started (``active``: connections open now)."""

    connections: int = 0  # accepted
    active: int = 0
    bytes_up: int = 0  # client -> server, delivered
    bytes_down: int = 0  # server -> client, delivered
    resets: int = 0  # connections the proxy cut with an RST
    blackholed: int = 0  # connections accepted in blackhole mode (never connected upstream)
    upstream_failures: int = 0  # upstream connects that failed (the client was reset)


class ChaosProxy:
    """Listens on ``host:port`` (0: a free port) and relays each connection to ``upstream_host:upstream_port``."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        chaos: Chaos = Chaos(),
    ):
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.chaos = chaos
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._closed = False

    @property
    def address(self) -> str:
        """``host:port`` the proxy listens on (valid after :meth:`start`)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    async def start(self) -> ChaosProxy:
        if self.chaos.mode != "refuse":
            await self._listen()
        elif self.port == 0:
            raise ValueError("a proxy that starts refusing needs a fixed port")
        return self

    async def __aenter__(self) -> ChaosProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def set(self, chaos: Chaos) -> None:
        """Switch the fault; in effect for open connections at once."""
        before, self.chaos = self.chaos, chaos
        if chaos.mode == "refuse" and before.mode != "refuse":
            self._stop_listening()
            for link in list(self._links):
                link.close()
        elif chaos.mode != "refuse" and self._server is None and not self._closed:
            await self._listen()

    async def set_mode(self, mode: Mode, **params: float) -> None:
        """``await proxy.set_mode("latency", down=0.1)``: :meth:`set` with a new :class:`Chaos`."""
        await self.set(Chaos(mode, **params))  # type: ignore[arg-type]

    async def close(self) -> None:
        self._closed = True
        self._stop_listening()
        links = list(self._links)
        for link in links:
            link.close()
        await asyncio.gather(*(link.done.wait() for link in links))

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # not wait_closed(): since 3.12 it also waits for every open connection

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.chaos.mode == "refuse" or self._closed:  # accepted just before the listener closed
            _reset(writer)
            return
        self.stats.connections += 1
        self.stats.active += 1
        link = _Link(self, reader, writer)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)
            self.stats.active -= 1
            link.done.set()


class _Link:
    """One client connection and (unless blackholed) its upstream connection."""

    def __init__(self, proxy: ChaosProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.proxy = proxy
        self.client = (reader, writer)
        self.server: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.done = asyncio.Event()
        self._answer_bytes = 0  # server -> client bytes let through in reset mode
        self._tasks: list[asyncio.Future[None]] = []
        self._cut = False

    async def run(self) -> None:
        proxy = self.proxy
        reader, writer = self.client
        if proxy.chaos.mode == "blackhole":
            proxy.stats.blackholed += 1
            with contextlib.suppress(OSError):
                while await reader.read(_CHUNK):
                    pass
            writer.close()
            return
        try:
            self.server = await asyncio.open_connection(*proxy.upstream)
        except OSError:
            proxy.stats.upstream_failures += 1
            _reset(writer)
            return
        up = asyncio.ensure_future(self._pump(reader, self.server[1], upstream=True))
        down = asyncio.ensure_future(self._pump(self.server[0], writer, upstream=False))
        self._tasks = [up, down]
        try:
            await asyncio.gather(up, down, return_exceptions=True)
        finally:
            writer.close()
            self.server[1].close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, upstream: bool) -> None:
        """Reads chunks from ``src`` and hands them to a writer that delivers them on time."""
        loop = asyncio.get_running_loop()
        queue: deque[tuple[float, bytes]] = deque()
        ready = asyncio.Event()
        writer = asyncio.ensure_future(self._deliver(queue, ready, dst, upstream))
        try:
            while True:
                try:
                    data = await src.read(_CHUNK)
                except OSError:  # the peer reset: so does the proxy, towards the other side
                    self.reset()
                    return
                if not data:
                    queue.append((0.0, b""))  # end of stream
                    ready.set()
                    await writer
                    return
                chaos = self.proxy.chaos
                if chaos.mode == "blackhole":
                    continue
                delay = (chaos.up if upstream else chaos.down) if chaos.mode == "latency" else 0.0
                queue.append((loop.time() + delay, data))
                ready.set()
        finally:
            writer.cancel()

    async def _deliver(
        self, queue: deque[tuple[float, bytes]], ready: asyncio.Event, dst: asyncio.StreamWriter, upstream: bool
    ) -> None:
        proxy, loop = self.proxy, asyncio.get_running_loop()
        free_at = 0.0  # throttle: when the direction may send again
        while True:
            while not queue:
                ready.clear()
                await ready.wait()
            due, data = queue.popleft()
            if not data:
                if dst.can_write_eof():
                    with contextlib.suppress(OSError):
                        dst.write_eof()  # half-close: the other direction may still be answering
                return
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            chaos = proxy.chaos
            if chaos.mode == "blackhole":
                continue
            if chaos.mode == "reset" and not upstream:
                allowed = chaos.reset_after - self._answer_bytes
                if allowed < len(data):
                    if allowed > 0:
                        await self._write(dst, data[:allowed], upstream)
                    self.reset()
                    return
                self._answer_bytes += len(data)
            if chaos.mode == "throttle":
                step = max(1, int(chaos.rate / 20))  # about 20 writes a second
                for i in range(0, len(data), step):
                    piece = data[i : i + step]
                    now = loop.time()
                    if free_at > now:
                        await asyncio.sleep(free_at - now)
                    free_at = max(free_at, now) + len(piece) / chaos.rate
                    await self._write(dst, piece, upstream)
                continue
            await self._write(dst, data, upstream)

    async def _write(self, dst: asyncio.StreamWriter, data: bytes, upstream: bool) -> None:
        try:
            dst.write(data)
            if upstream:
                self.proxy.stats.bytes_up += len(data)
            else:
                self.proxy.stats.bytes_down += len(data)
            await dst.drain()
        except OSError:
            self.reset()

    def reset(self) -> None:
        """Cut both sides with an RST."""
        if self._cut:
            return
        self._cut = True
        self.proxy.stats.resets += 1
        _reset(self.client[1])
        if self.server is not None:
            _reset(self.server[1])
        for task in self._tasks:
            task.cancel()

    def close(self) -> None:
        """Close both sides (FIN), as a server going away does."""
        self.client[1].close()
        if self.server is not None:
            self.server[1].close()
        for task in self._tasks:
            task.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER on, zero seconds)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
