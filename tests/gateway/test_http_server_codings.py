"""Content codings in the ingress HTTP/1.1 server over raw sockets: a compressed body reaches the handler
inflated, a refused one (bomb, unknown coding, corrupt) is answered in turn and the connection goes on
(pipelined requests behind it are served); the server itself never compresses an answer (only the
inference handlers do, tests/gateway/test_rest_binary.py)."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest

from isthmus.gateway.compression import MIN_SIZE
from isthmus.gateway.http_server import HttpServer
from isthmus.gateway.http_types import Request, Response
from tests.gateway.test_http_server import exchange, responses


async def echo(request: Request) -> Response:
    return Response(200, request.body, {"x-had-encoding": str("content-encoding" in request.headers)})


@pytest.fixture
async def server():
    s = HttpServer(echo, max_body=4096, idle_timeout=2)
    s.port = await s.listen("127.0.0.1", 0)
    yield s
    await s.stop(grace=1)


def post(body: bytes, *headers: str, close: bool = False) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers) + ("Connection: close\r\n" if close else "")
    return f"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_refused_bodies_are_answered_in_turn_and_the_connection_goes_on(server):
    bomb = gzip.compress(bytes(1 << 20))  # 1 MiB of zeros in ~1 KB; the limit is 4 KiB
    assert len(bomb) < 4096
    data = (post(gzip.compress(b"first"), "Content-Encoding: gzip")
            + post(bomb, "Content-Encoding: gzip")
            + post(b"x", "Content-Encoding: br")
            + post(b"not gzip at all", "Content-Encoding: gzip")
            + post(zlib.compress(b"last"), "Content-Encoding: deflate", close=True))
    got = responses(await exchange(server.port, data))
    assert [s for s, _, _ in got] == [200, 413, 415, 400, 200]
    assert got[0][2] == b"first" and got[0][1]["x-had-encoding"] == "False"  # inflated, header dropped
    assert "once decompressed (gzip)" in orjson.loads(got[1][2])["error"]
    assert "unsupported Content-Encoding 'br'" in orjson.loads(got[2][2])["error"]
    assert "not valid gzip data" in orjson.loads(got[3][2])["error"]
    assert got[4][2] == b"last"


async def test_the_server_does_not_compress_answers_itself(server):
    big = b"0123456789" * (MIN_SIZE // 10 + 1)
    (status, headers, body), = responses(await exchange(server.port, post(big, "Accept-Encoding: gzip", close=True)))
    assert status == 200 and "content-encoding" not in headers and body == big
