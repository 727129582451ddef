"""The ingress HTTP/1.1 server over raw sockets: framing, keep-alive, pipelining, limits, errors, stop."""

import asyncio

import orjson
import pytest

from isthmus.gateway.http_server import HttpServer
from isthmus.gateway.http_types import Request, Response
from tests.waiting import until


async def echo(request: Request) -> Response:
    if request.path == "/slow":
        await asyncio.sleep(0.3)
    doc = {"method": request.method, "path": request.path, "len": len(request.body),
           "ua": request.headers.get("User-Agent"), "x": request.headers.get("X-Multi")}
    return Response(200, orjson.dumps(doc), {"x-test": "1"})


@pytest.fixture
async def server():
    s = HttpServer(echo, max_body=100, idle_timeout=0.5)
    port = await s.listen("127.0.0.1", 0)
    s.port = port
    yield s
    await s.stop(grace=1)


async def exchange(port: int, data: bytes, until_close: bool = True, read_for: float = 1.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), read_for)
            if not chunk:
                break
            out += chunk
    except TimeoutError:
        if until_close:
            raise AssertionError(f"connection not closed; got {out!r}")
    writer.close()
    return out


def responses(raw: bytes) -> list[tuple[int, dict, bytes]]:
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        n = int(headers.get("content-length", 0))
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        raw = rest[n:]
    return out


REQ = b"POST /a?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nUser-Agent: t\r\n\r\nhi"


async def test_keep_alive_and_pipelining_answer_in_order(server):
    raw = await exchange(server.port, REQ + REQ.replace(b"/a?", b"/slow?") + REQ.replace(b"/a?", b"/c?"),
                         until_close=False, read_for=0.8)
    got = responses(raw)
    assert [orjson.loads(b)["path"] for _, _, b in got] == ["/a", "/slow", "/c"]
    assert all(s == 200 and h["x-test"] == "1" and "connection" not in h for s, h, _ in got)


async def test_chunked_body_repeated_headers_and_percent_decoding(server):
    req = (b"POST /a%20b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Multi: 1\r\nx-multi: 2\r\n"
           b"Connection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    (status, headers, body), = responses(await exchange(server.port, req))
    assert status == 200 and headers["connection"] == "close"
    assert orjson.loads(body) == {"method": "POST", "path": "/a b", "len": 5, "ua": None, "x": "1, 2"}


async def test_expect_100_continue(server):
    req = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhi"
    raw = await exchange(server.port, req)
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")


@pytest.mark.parametrize("req", [
    b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"32\r\n" + b"a" * 50 + b"\r\n" * 1 + b"3c\r\n" + b"a" * 60 + b"\r\n0\r\n\r\n",
])
async def test_oversized_bodies_get_413_json_and_close(server, req):
    (status, headers, body), = responses(await exchange(server.port, req))
    assert status == 413 and "too large" in orjson.loads(body)["error"]
    assert headers["connection"] == "close" and headers["x-request-id"] and headers["x-isthmus-backend"] == "-"


async def test_malformed_request_gets_400_json(server):
    (status, _, body), = responses(await exchange(server.port, b"GARBAGE\r\n\r\n"))
    assert status == 400 and "malformed HTTP request" in orjson.loads(body)["error"]


async def test_head_has_no_body_and_http10_closes(server):
    raw = await exchange(server.port, b"HEAD /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head and rest == b""
    (status, headers, _), = responses(await exchange(server.port, b"GET /a HTTP/1.0\r\n\r\n"))
    assert status == 200 and headers["connection"] == "close"


async def test_idle_connections_are_closed(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server after 0.5 s idle
    writer.close()


async def test_stop_lets_requests_in_flight_finish(server):
    task = asyncio.create_task(exchange(server.port, REQ.replace(b"/a?", b"/slow?")))
    await until(lambda: server.in_flight == 1, "the slow request in flight")
    await server.stop(grace=2)
    (status, headers, body), = responses(await task)
    assert status == 200 and orjson.loads(body)["path"] == "/slow" and headers["connection"] == "close"
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_huge_heads_get_431(server):
    req = b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    (status, headers, body), = responses(await exchange(server.port, req))
    assert status == 431 and "over the limit" in orjson.loads(body)["error"] and headers["connection"] == "close"


async def test_a_refused_pipelined_request_is_answered_after_the_earlier_ones(server):
    slow = REQ.replace(b"/a?", b"/slow?")
    oversized = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n" + b"x" * 500
    got = responses(await exchange(server.port, slow + oversized))
    assert [s for s, _, _ in got] == [200, 413]
    assert orjson.loads(got[0][2])["path"] == "/slow"


async def test_a_head_trickling_in_is_cut_off(monkeypatch):
    from isthmus.gateway import http_server

    monkeypatch.setattr(http_server, "HEAD_TIMEOUT", 0.3)
    s = HttpServer(echo, max_body=100, idle_timeout=30)
    port = await s.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for byte in b"GET /a HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890":
            writer.write(bytes([byte]))  # one byte every 50 ms: never idle, never finished
            await asyncio.sleep(0.05)
            if writer.is_closing() or reader.at_eof():
                break
        assert await asyncio.wait_for(reader.read(), 2) == b""
        assert loop.time() - start < 2.0
        writer.close()
    finally:
        await s.stop(grace=1)


async def test_escaped_utf8_paths_decode_and_raw_bytes_are_refused(server):
    escaped = b"POST /mod%C3%A8le HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    assert orjson.loads(responses(await exchange(server.port, escaped))[0][2])["path"] == "/modèle"
    raw = "POST /modèle HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    (status, _, body), = responses(await exchange(server.port, raw))
    assert status == 400 and "url" in orjson.loads(body)["error"]
