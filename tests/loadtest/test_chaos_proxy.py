"""The fault-injecting proxy in front of a real HTTP server (aiohttp), driven by raw sockets so each
fault is seen exactly as a client's TCP stack sees it."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from isthmus.loadtest.chaos_proxy import Chaos, ChaosProxy
from tests.conftest import free_port
from tests.waiting import until

REQUEST = b"GET /ping HTTP/1.1\r\nHost: upstream\r\n\r\n"


class Upstream:
    """A real aiohttp server that notes when each request arrived; ``/big`` answers ``size`` bytes."""

    def __init__(self, size: int = 20_000):
        self.arrivals: list[float] = []
        self.size = size

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ping", self.ping)
        app.router.add_get("/big", self.big)
        return app

    async def ping(self, request: web.Request) -> web.Response:
        self.arrivals.append(asyncio.get_running_loop().time())
        return web.json_response({"pong": len(self.arrivals)})

    async def big(self, request: web.Request) -> web.Response:
        self.arrivals.append(asyncio.get_running_loop().time())
        return web.Response(body=b"x" * self.size)


@pytest.fixture
async def upstream(serve_app) -> tuple[Upstream, int]:
    server = Upstream()
    url = await serve_app(server.app())
    return server, int(url.rsplit(":", 1)[1])


@pytest.fixture
async def proxy(upstream):
    async with ChaosProxy("127.0.0.1", upstream[1]) as p:
        yield p


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 answer with a Content-Length: (head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


async def roundtrip(reader, writer, request: bytes = REQUEST) -> tuple[bytes, bytes]:
    writer.write(request)
    await writer.drain()
    return await read_answer(reader)


async def test_pass_relays_both_ways_and_counts_connections_and_bytes(proxy, upstream):
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    head1, body1 = await roundtrip(reader, writer)
    head2, body2 = await roundtrip(reader, writer)  # keep-alive: the same connection
    assert head1.startswith(b"HTTP/1.1 200") and body1 == b'{"pong": 1}' and body2 == b'{"pong": 2}'
    assert proxy.stats.connections == 1 and proxy.stats.active == 1
    assert proxy.stats.bytes_up == 2 * len(REQUEST)
    await until(lambda: proxy.stats.bytes_down == len(head1 + body1 + head2 + body2), "answer bytes counted")
    writer.close()
    await until(lambda: proxy.stats.active == 0, "the link to end when the client closes")
    assert proxy.stats.resets == 0


async def test_refuse_closes_the_listener_and_open_connections_then_listens_again_on_the_same_port(proxy, upstream):
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await roundtrip(reader, writer)
    port = proxy.port

    await proxy.set(Chaos("refuse"))
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the open connection was closed (FIN)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert len(upstream[0].arrivals) == 1

    await proxy.set(Chaos())
    assert proxy.port == port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    _, body = await roundtrip(reader, writer)
    assert body == b'{"pong": 2}'
    writer.close()


async def test_reset_lets_the_request_through_and_cuts_the_answer_with_an_rst(proxy, upstream):
    await proxy.set(Chaos("reset", reset_after=12))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(REQUEST)
    got = b""
    with pytest.raises(ConnectionResetError):
        while chunk := await asyncio.wait_for(reader.read(100), 5):
            got += chunk
    assert got == b"HTTP/1.1 200"  # exactly reset_after bytes of the real answer
    assert len(upstream[0].arrivals) == 1  # the server did get the request
    assert proxy.stats.resets == 1 and proxy.stats.bytes_down == 12

    await proxy.set(Chaos("reset"))  # reset_after 0: not a byte of the answer
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(REQUEST)
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(100), 5)
    assert len(upstream[0].arrivals) == 2 and proxy.stats.resets == 2


async def test_blackhole_accepts_and_never_answers_nor_forwards(proxy, upstream):
    await proxy.set(Chaos("blackhole"))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)  # accepted
    writer.write(REQUEST)
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.3)  # the absence of an answer is the behaviour under test
    assert upstream[0].arrivals == [] and proxy.stats.blackholed == 1 and proxy.stats.bytes_up == 0

    await proxy.set(Chaos())  # new connections flow again; the swallowed one stays silent
    r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
    _, body = await roundtrip(r2, w2)
    assert body == b'{"pong": 1}'
    writer.close()
    w2.close()


async def test_latency_is_added_per_direction_and_switches_on_an_open_connection(proxy, upstream):
    server = upstream[0]
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await roundtrip(reader, writer)  # the connection is open before the switch

    await proxy.set(Chaos("latency", up=0.15, down=0.1))
    sent = loop.time()
    _, body = await roundtrip(reader, writer)
    answered = loop.time()
    assert body == b'{"pong": 2}'
    assert server.arrivals[-1] - sent >= 0.15  # the request was held on its way up
    assert answered - server.arrivals[-1] >= 0.1  # and the answer on its way down

    await proxy.set(Chaos())
    _, body = await roundtrip(reader, writer)
    assert body == b'{"pong": 3}'
    writer.close()


async def test_throttle_bounds_the_byte_rate_and_keeps_the_bytes_intact(proxy, upstream):
    await proxy.set(Chaos("throttle", rate=40_000))
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    start = loop.time()
    head, body = await roundtrip(reader, writer, b"GET /big HTTP/1.1\r\nHost: upstream\r\n\r\n")
    elapsed = loop.time() - start
    assert body == b"x" * 20_000
    # 20 kB and a head at 40 kB/s, written in 2 kB steps: ten waits of 50 ms at least
    assert elapsed >= 0.45, elapsed
    writer.close()


async def test_an_unreachable_upstream_resets_the_client():
    async with ChaosProxy("127.0.0.1", free_port()) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(1), 5)
        assert proxy.stats.upstream_failures == 1


async def test_close_ends_open_connections(upstream):
    proxy = await ChaosProxy("127.0.0.1", upstream[1]).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    await roundtrip(reader, writer)
    await proxy.close()
    assert proxy.stats.active == 0
    assert await asyncio.wait_for(reader.read(), 5) == b""
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", proxy.port)


def test_chaos_refuses_bad_parameters():
    with pytest.raises(ValueError, match="unknown chaos mode"):
        Chaos("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        Chaos("throttle")
    with pytest.raises(ValueError, match="latency"):
        Chaos("latency", down=-1)
