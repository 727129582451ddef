"""The keep-alive pool against raw asyncio servers whose behaviour each test scripts."""

import asyncio

import pytest

from isthmus.http1 import ConnectError, Http1Pool, PoolFull, ProtocolError, RequestTimeout, ResponseTooLarge
from tests.waiting import until

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-isthmus-backend: b1\r\n\r\nok"


class Server:
    """Counts connections and requests; ``reply(n)`` gives the bytes for the n-th request (None: say nothing)."""

    def __init__(self, reply=lambda n: OK, close_after=None, delay=0.0):
        self.reply, self.close_after, self.delay = reply, close_after, delay
        self.connections = 0
        self.closed = 0  # connections this server closed
        self.requests = 0
        self.max_concurrent = 0
        self._active = 0

    async def handle(self, reader, writer):
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next((l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")), b"0"))
                await reader.readexactly(length)
                self.requests += 1
                self._active += 1
                self.max_concurrent = max(self.max_concurrent, self._active)
                if self.delay:
                    await asyncio.sleep(self.delay)
                self._active -= 1
                data = self.reply(self.requests)
                if data is not None:
                    writer.write(data)
                    await writer.drain()
                served += 1
                if self.close_after and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed += 1

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()


async def test_keep_alive_reuses_one_connection_and_reads_wanted_headers():
    async with Server() as s:
        pool = Http1Pool(s.url, want_headers=frozenset({b"x-isthmus-backend"}))
        for _ in range(5):
            r = await pool.request("POST", "/x", b"{}", {"Content-Type": "application/json"})
            assert (r.status, r.body, dict(r.headers)) == (200, b"ok", {b"x-isthmus-backend": b"b1"})
        await pool.close()
    assert (s.connections, s.requests) == (1, 5)


async def test_server_closing_idle_connections_is_retried_transparently():
    async with Server(close_after=1) as s:
        pool = Http1Pool(s.url)
        for i in range(3):
            await pool.request("GET", "/")
            await until(lambda i=i: s.closed == i + 1, "the server to close the idle connection")
        await pool.close()
    assert s.requests == 3 and s.connections == 3


async def test_pool_bounds_connections():
    async with Server(delay=0.05) as s:
        pool = Http1Pool(s.url, max_connections=2)
        results = await asyncio.gather(*(pool.request("GET", "/") for _ in range(10)))
        await pool.close()
    assert all(r.status == 200 for r in results)
    assert s.connections == 2 and s.max_concurrent == 2


@pytest.mark.parametrize("max_pending", [0, 2])
async def test_past_max_pending_waiters_a_request_is_refused_at_once(max_pending):
    async with Server(reply=lambda n: None) as s:  # never answers: the first request holds the only connection
        pool = Http1Pool(s.url, max_connections=1, max_pending=max_pending)
        first = asyncio.ensure_future(pool.request("GET", "/", timeout=30))
        await until(lambda: s.requests == 1, "the first request to hold the connection")
        waiting = [asyncio.ensure_future(pool.request("GET", "/", timeout=30)) for _ in range(max_pending)]
        await until(lambda: pool.pending_requests == max_pending, "the waiters to queue")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(PoolFull, match=f"{max_pending} requests waiting"):
            await pool.request("GET", "/", timeout=30)
        assert loop.time() - start < 1.0  # refused at once, not at the deadline
        # cancelling the first wakes a waiter that is being cancelled too: it must leave, not send
        for task in [first, *waiting]:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(first, *waiting, return_exceptions=True), 5)
        assert all(task.cancelled() for task in [first, *waiting])
        assert pool.pending_requests == 0 and pool.in_use_connections == 0 and s.requests == 1
        await pool.close()


async def test_timeouts_cover_the_answer_and_the_wait_for_a_connection():
    async with Server(delay=1.0) as s:
        pool = Http1Pool(s.url, max_connections=1)
        first = asyncio.create_task(pool.request("GET", "/", timeout=0.2))
        second = asyncio.create_task(pool.request("GET", "/", timeout=0.1))
        with pytest.raises(RequestTimeout, match="no answer within 0.2s"):
            await first
        with pytest.raises(RequestTimeout, match="no free connection within 0.1s"):
            await second
        await pool.close()


async def test_connection_refused_is_a_connect_error():
    async with Server() as s:
        url = s.url
    pool = Http1Pool(url)
    with pytest.raises(ConnectError, match="cannot connect"):
        await pool.request("GET", "/")


async def test_chunked_and_connection_close_responses():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    closing = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\ndown"
    async with Server(reply=lambda n: chunked if n == 1 else closing) as s:
        pool = Http1Pool(s.url)
        assert (await pool.request("GET", "/")).body == b"abcde"
        r = await pool.request("GET", "/")
        assert (r.status, r.body) == (503, b"down")
        assert (await pool.request("GET", "/")).status == 503  # a new connection after Connection: close
        await pool.close()
    assert s.connections == 2


async def test_garbage_and_dropped_answers_are_protocol_errors():
    async with Server(reply=lambda n: b"SMTP ready\r\n\r\n") as s:
        pool = Http1Pool(s.url)
        with pytest.raises(ProtocolError, match="malformed HTTP response"):
            await pool.request("GET", "/")
        await pool.close()
    async with Server(reply=lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close_after=1) as s:
        pool = Http1Pool(s.url)
        with pytest.raises(ProtocolError, match="closed by peer"):
            await pool.request("GET", "/")
        await pool.close()


async def test_a_long_timeout_expires_on_the_tick_and_the_connection_is_dropped():
    # >= 1 s remaining: no per-request timer, the pool's 50 ms tick expires it
    async with Server(reply=lambda n: None if n == 1 else OK) as s:
        pool = Http1Pool(s.url, max_connections=1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(RequestTimeout, match="no answer within 1s"):
            await pool.request("GET", "/", timeout=1.0)
        assert 1.0 <= loop.time() - start < 1.5
        assert len(pool._deadlines) == 0
        resp = await pool.request("GET", "/", timeout=5.0)  # a fresh connection: the silent one was closed
        assert resp.status == 200 and s.connections == 2
        assert len(pool._deadlines) == 0
        await pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + b"x" * 2000,  # announced
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + b"x" * 2000 + b"\r\n0\r\n\r\n",  # streamed
    ],
    ids=["content-length", "chunked"],
)
async def test_an_answer_over_the_size_limit_is_refused_and_its_connection_dropped(answer):
    async with Server(reply=lambda n: answer if n == 1 else OK) as s:
        pool = Http1Pool(s.url, max_response_size=1000)
        with pytest.raises(ResponseTooLarge, match="larger than the limit of 1000 bytes"):
            await pool.request("GET", "/", timeout=5.0)
        resp = await pool.request("GET", "/", timeout=5.0)  # a new connection: the big answer's was closed
        assert resp.status == 200 and s.connections == 2
        await pool.close()
