"""The open-loop runner: send each request at its intended time, measure from that time.

A dispatcher callback wakes at each intended send time (or at once when behind) and hands the
request to a free slot of the transport; when every slot is busy the request waits in a FIFO
queue, and its latency still counts from its intended time. So a stalled server shows up as
latency (coordinated omission is not possible), and the send rate never drops to the rate the
server manages. ``latency`` = completion - intended time; ``service_time`` = completion - the
moment the request was handed to the transport.

The run ends when the schedule is exhausted (duration or request cap); requests still queued
or in flight get ``grace_s`` to finish, then count as ``timeout`` errors. Errors never enter a
latency histogram. The transport is anything with the ``Transport`` shape (HTTP/1.1: http_client.py; gRPC: grpc_client.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Iterator, Protocol, Sequence

from isthmus.loadtest.results import HIGHEST_US, Interval, RunResult, new_histogram

Clock = Callable[[], float]
DoneCallback = Callable[[Any, int, "str | None", "str | None"], None]


class Transport(Protocol):
    """What the engine sends through. ``slots`` requests may be in flight at once."""

    slots: int

    def prepare(self, request: Any) -> Any:
        """Pre-serialise a request (before the clock starts)."""

    async def start(self, on_done: DoneCallback) -> None:
        """Connect; afterwards call ``on_done(token, status, backend, error)`` once per ``send``."""

    def send(self, prepared: Any, token: Any) -> None:
        """Start one request on a free slot (``token`` is not None); never blocks or calls ``on_done`` synchronously."""

    def abort_all(self, error: str = "timeout") -> None:
        """Fail every request in flight now."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Tick:
    """A progress snapshot, once per interval; ``window`` is the last complete interval."""

    elapsed_s: float
    intended: int
    sent: int
    ok: int
    errors: dict[str, int]
    window: Interval | None


class _Recorder:
    """Buffers successful samples and folds them into the HDR histograms in batches.

    ``HdrHistogram.record_value`` costs microseconds in Python; recording each distinct value
    once per flush with its count keeps the per-request cost to a list append.
    """

    def __init__(self, result: RunResult, interval_of: Callable[[int], Interval]) -> None:
        self.result = result
        self.interval_of = interval_of
        self.samples: list[tuple[int, str | None, int, int]] = []

    def add(self, interval: int, variant: str | None, latency_us: int, service_us: int) -> None:
        self.samples.append((interval, variant, latency_us, service_us))

    def flush(self) -> None:
        samples, self.samples = self.samples, []
        if not samples:
            return
        latency: Counter[int] = Counter()
        service: Counter[int] = Counter()
        by_interval: dict[int, Counter[int]] = {}
        by_variant: dict[str, Counter[int]] = {}
        for interval, variant, lat, svc in samples:
            latency[lat] += 1
            service[svc] += 1
            by_interval.setdefault(interval, Counter())[lat] += 1
            if variant is not None:
                by_variant.setdefault(variant, Counter())[lat] += 1
        r = self.result
        _record(r.latency, latency)
        _record(r.service_time, service)
        for index, values in by_interval.items():
            _record(self.interval_of(index).latency, values)
        for name, values in by_variant.items():
            _record(r.variants.setdefault(name, new_histogram()), values)
            r.variant_counts[name] += sum(values.values())


def _record(histogram: Any, values: Counter[int]) -> None:
    for value, count in values.items():
        histogram.record_value(value, count)


def _micros(seconds: float) -> int:
    return min(max(int(seconds * 1e6), 1), HIGHEST_US)


class Engine:
    """One process's open-loop run over its share of the schedule."""

    def __init__(
        self,
        transport: Transport,
        prepared: Sequence[Any],
        share: Iterable[tuple[int, float]],
        result: RunResult,
        *,
        grace_s: float,
        clock: Clock = time.perf_counter,
        wall_clock: Clock = time.time,
        on_tick: Callable[[Tick], None] | None = None,
        before_start: Callable[[], Awaitable[Any]] | None = None,
        flush_s: float = 0.1,
        spin_s: float = 0.001,
    ) -> None:
        if not prepared:
            raise ValueError("no requests to send")
        self.transport = transport
        self.prepared = prepared
        self.share: Iterator[tuple[int, float]] = iter(share)
        self.result = result
        self.grace_s = grace_s
        self.clock = clock
        self.wall_clock = wall_clock
        self.on_tick = on_tick
        self.before_start = before_start
        self.flush_s = flush_s
        self.spin_s = spin_s
        self._free = transport.slots
        self._queue: deque[tuple[int, float]] = deque()
        self._intervals: dict[int, Interval] = {}
        self._recorder = _Recorder(result, self._interval)
        self._start = 0.0
        self._outstanding = 0
        self._closing = False
        self._dispatched: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next: tuple[int, float] | None = None

    def _interval(self, index: int) -> Interval:
        iv = self._intervals.get(index)
        if iv is None:
            iv = self._intervals[index] = Interval(index * self.result.interval_s)
        return iv

    async def run(self) -> RunResult:
        loop = self._loop = asyncio.get_running_loop()
        await self.transport.start(self._done)
        self._dispatched = loop.create_future()
        self._drained = loop.create_future()
        self._next = next(self.share, None)
        if self.before_start is not None:
            await self.before_start()  # e.g. wait for the other workers to be ready
        self.result.started_at = self.wall_clock()
        self._start = self.clock()
        background = [loop.create_task(self._flush_loop())]
        if self.on_tick is not None:
            background.append(loop.create_task(self._tick_loop()))
        try:
            self._dispatch()
            await self._dispatched
            if self._outstanding:
                try:
                    await asyncio.wait_for(asyncio.shield(self._drained), self.grace_s)
                except asyncio.TimeoutError:
                    self._give_up()
        finally:
            for task in background:
                task.cancel()
            await self.transport.close()
        self._recorder.flush()
        self.result.intervals = [self._intervals[k] for k in sorted(self._intervals)]
        return self.result

    # dispatch ------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        assert self._loop is not None and self._dispatched is not None
        nxt = self._next
        elapsed = self.clock() - self._start
        while nxt is not None and nxt[1] <= elapsed:
            self._submit(nxt)
            nxt = next(self.share, None)
        self._next = nxt
        if nxt is None:
            self._dispatched.set_result(None)
            return
        # Event-loop timers have millisecond granularity: wake ``spin_s`` early and poll the
        # loop (I/O included) until the request is due, so sends are on time to microseconds.
        delay = nxt[1] - (self.clock() - self._start)
        if delay > self.spin_s:
            self._loop.call_later(delay - self.spin_s, self._dispatch)
        else:
            self._loop.call_soon(self._dispatch)

    def _submit(self, item: tuple[int, float]) -> None:
        self.result.intended += 1
        self._outstanding += 1
        self._interval(int(item[1] / self.result.interval_s)).sent += 1
        if self._free:
            self._free -= 1
            self._send(item)
        else:
            self._queue.append(item)

    def _send(self, item: tuple[int, float]) -> None:
        seq, offset = item
        self.result.sent += 1
        now = self.clock()
        self.transport.send(self.prepared[seq % len(self.prepared)], (offset, now))

    # completion ----------------------------------------------------------------------------
    def _done(self, token: tuple[float, float], status: int, backend: str | None, error: str | None) -> None:
        now = self.clock()
        offset, sent_at = token
        index = int(offset / self.result.interval_s)
        if error is None and 200 <= status < 300:
            self.result.ok += 1
            self._interval(index).ok += 1
            self._recorder.add(index, backend, _micros(now - self._start - offset), _micros(now - sent_at))
        else:
            self._error(index, error or f"http_{status}")
        self._outstanding -= 1
        if self._queue and not self._closing:
            self._send(self._queue.popleft())
        else:
            self._free += 1
        if self._outstanding == 0 and self._dispatched is not None and self._dispatched.done():
            if self._drained is not None and not self._drained.done():
                self._drained.set_result(None)

    def _error(self, index: int, kind: str) -> None:
        self.result.errors[kind] += 1
        self._interval(index).errors[kind] += 1

    def _give_up(self) -> None:
        """The grace period is over: whatever is queued or in flight is a timeout."""
        self._closing = True
        while self._queue:
            _, offset = self._queue.popleft()
            self._outstanding -= 1
            self._error(int(offset / self.result.interval_s), "timeout")
        self.transport.abort_all("timeout")

    # background ----------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            self._recorder.flush()

    async def _tick_loop(self) -> None:
        assert self.on_tick is not None
        step = self.result.interval_s
        k = 1
        while True:
            await asyncio.sleep(max(self._start + k * step - self.clock(), 0))
            self._recorder.flush()
            r = self.result
            window = self._intervals.get(k - 1)
            self.on_tick(Tick(self.clock() - self._start, r.intended, r.sent, r.ok, dict(r.errors), window))
            k += 1
