"""The access log: one JSON line per request, written off the event loop.

``write`` serialises the line (orjson) and puts it on a queue; a writer thread appends what has
queued up to the file (or standard output) and flushes, then sleeps ``interval`` (lines appear
within about that long; the thread wakes a few times a second, not once per request). A slow disk
delays the log, never a request. Lines still queued at :meth:`close` are written before it returns.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import IO, Any

import orjson

_STOP = object()


#: Lines waiting for the writer thread; beyond this (a stuck disk) lines are dropped and counted.
MAX_QUEUED = 100_000


class AccessLog:
    def __init__(self, stream: IO[bytes], interval: float = 0.05, max_queued: int = MAX_QUEUED) -> None:
        self._stream = stream
        self._interval = interval
        self._max_queued = max_queued
        self.dropped = 0  # lines not written because the queue was full (isthmus.access_log.dropped)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="isthmus-access-log", daemon=True)
        self._thread.start()
        self._closed = False

    @classmethod
    def open(cls, path: str) -> AccessLog:
        """``"-"``: standard output; else the file, appended to (raises OSError when it cannot be opened)."""
        if path == "-":
            return cls(_Unclosable(sys.stdout.buffer))
        return cls(open(path, "ab", buffering=0))  # noqa: SIM115 - closed by close(); unbuffered: see _write

    def request(
        self,
        *,
        ts: float,
        request_id: str,
        trace_id: str | None,
        transport: str,
        method: str,
        path: str,
        route: str | None,
        variant: str,
        cache: str,
        status: int | str,
        latency: float,
        client: str | None,
    ) -> None:
        """One request's line (``latency`` in seconds; written as ``latency_ms``)."""
        self.write({
            "ts": round(ts, 6), "request_id": request_id, "trace_id": trace_id, "transport": transport,
            "method": method, "path": path, "route": route, "variant": variant, "cache": cache, "status": status,
            "latency_ms": round(latency * 1000, 3), "client": client,
        })  # fmt: skip

    def write(self, line: dict[str, Any]) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self._max_queued:  # the writer is stuck: memory stays bounded
            self.dropped += 1
            return
        self._queue.put(orjson.dumps(line) + b"\n")

    def _run(self) -> None:
        q = self._queue
        while True:
            batch = [q.get()]
            while batch[-1] is not _STOP:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is _STOP
            lines = batch[:-1] if stop else batch
            if lines:
                self._write(b"".join(lines))
            if stop:
                return
            time.sleep(self._interval)  # let lines gather: one wake-up per batch, not per request

    def _write(self, data: bytes) -> None:
        """One batch in as few ``write`` calls as the OS allows: with O_APPEND, whole batches from
        several gateway processes (``--workers``) sharing the file do not interleave mid-line."""
        view = memoryview(data)
        try:
            while view:
                written = self._stream.write(view)
                view = view[written if written is not None else len(view) :]
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a full disk or a closed stdout loses lines, never the gateway

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then close the file (not standard output)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._stream.close()


class _Unclosable:
    """Standard output as the log's stream: flushed, never closed."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        return self._stream.write(data)

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self.flush()
