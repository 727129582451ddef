"""Fallback fast backend when nginx is unavailable: a raw asyncio protocol that answers every
HTTP/1.1 request with one fixed V2 JSON response (no framework, keep-alive, pipelining-safe).

Usage: python fast_backend.py PORT RESPONSE_FILE
"""

from __future__ import annotations

import asyncio
import sys


class FixedResponder(asyncio.Protocol):
    def __init__(self, response: bytes):
        self._response = response
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buf[:end].lower()
            length = 0
            i = head.find(b"content-length:")
            if i >= 0:
                length = int(head[i + 15 :].split(b"\r\n", 1)[0])
            total = end + 4 + length
            if len(self._buf) < total:
                return
            self._buf = self._buf[total:]
            self._transport.write(self._response)  # type: ignore[attr-defined]


def main() -> None:
    port, body = int(sys.argv[1]), open(sys.argv[2], "rb").read()
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: FixedResponder(response), "127.0.0.1", port, backlog=1024)
    )
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
