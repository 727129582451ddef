"""A fast HTTP/1.1 responder that freezes once, for a known time: the coordinated-omission test.

``STALL_AFTER`` seconds after the first request it blocks its event loop with ``time.sleep(STALL)``
(no request is read or answered meanwhile; the kernel still accepts connections into the
4096-deep backlog), then answers everything that queued up. The measured freeze is written as
JSON to ``OUT`` so the harness can compare each tool with the truth.

Usage: python stall_server.py PORT STALL_S STALL_AFTER_S OUT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

RESPONSE = b'{"outputs":[]}'
HTTP = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(RESPONSE), RESPONSE)


class Responder(asyncio.Protocol):
    first: float | None = None
    on_first = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._t = transport
        self._buf = b""

    def data_received(self, data: bytes) -> None:
        if Responder.first is None:
            Responder.first = time.monotonic()
            Responder.on_first()  # type: ignore[misc]
        self._buf += data
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buf[:end].lower()
            i = head.find(b"content-length:")
            length = int(head[i + 15:].split(b"\r\n", 1)[0]) if i >= 0 else 0
            total = end + 4 + length
            if len(self._buf) < total:
                return
            self._buf = self._buf[total:]
            self._t.write(HTTP)  # type: ignore[attr-defined]


def main() -> None:
    port, stall, after, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    loop = asyncio.new_event_loop()

    def freeze() -> None:
        t0 = time.monotonic()
        time.sleep(stall)
        t1 = time.monotonic()
        with open(out, "w") as f:
            json.dump({"stall_s": t1 - t0, "started_after_first_s": t0 - (Responder.first or t0)}, f)

    Responder.on_first = lambda: loop.call_later(after, freeze)
    loop.run_until_complete(loop.create_server(Responder, "127.0.0.1", port, backlog=4096))
    loop.run_forever()


if __name__ == "__main__":
    main()
