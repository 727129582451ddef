"""The slow backend of the coalescing burst: answers every POST with one fixed V2 JSON response
after DELAY_MS, concurrently (one asyncio task per connection, keep-alive), and counts the calls.
``GET /calls`` answers ``{"calls": N}`` (not counted).

Usage: python slow_backend.py PORT RESPONSE_FILE DELAY_MS
"""

from __future__ import annotations

import asyncio
import json
import sys


class SlowBackend:
    def __init__(self, body: bytes, delay_s: float):
        self.response = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
            len(body), body)
        self.delay_s = delay_s
        self.calls = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lower = head.lower()
                length = 0
                i = lower.find(b"content-length:")
                if i >= 0:
                    length = int(lower[i + 15:].split(b"\r\n", 1)[0])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET /calls"):
                    body = json.dumps({"calls": self.calls}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(body), body))
                    continue
                self.calls += 1
                await asyncio.sleep(self.delay_s)
                writer.write(self.response)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(port: int, body: bytes, delay_s: float) -> None:
    backend = SlowBackend(body, delay_s)
    server = await asyncio.start_server(backend.handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, body, delay_ms = int(sys.argv[1]), open(sys.argv[2], "rb").read(), float(sys.argv[3])
    asyncio.run(serve(port, body, delay_ms / 1000))


if __name__ == "__main__":
    main()
