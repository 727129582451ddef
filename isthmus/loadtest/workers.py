"""Where a load runs: the options of one run, and running it in this process or in N workers.

``run_load(options)`` is the Python entry point (the CLI and capacity search call it). With
``workers > 1`` it spawns N processes; worker i sends requests i, i+N, i+2N, ... of the one
schedule (so together they send exactly what one process would), over its share of the
connections. The workers open their connections, meet at a barrier, start their clocks
together, and send back ``RunResult.to_wire()``; the parent merges them exactly.
"""

from __future__ import annotations

import asyncio
import gc
import math
import multiprocessing
import os
import queue
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from isthmus.loadtest import schedule
from isthmus.loadtest.engine import Engine, Tick
from isthmus.loadtest.errors import LoadTestError
from isthmus.loadtest.http_client import HttpTransport, client_ssl_context, parse_target
from isthmus.loadtest.results import (
    Interval,
    RunResult,
    decode_histogram,
    encode_histogram,
)
from isthmus.loadtest.workload import WorkloadSpec, build_requests

MAX_DURATION_S = 3600.0
MAX_RATE = 1_000_000.0
MAX_CONNECTIONS = 10_000
MAX_WORKERS = 64
START_TIMEOUT_S = 120.0


class LoadOptionsError(LoadTestError, ValueError):
    """Options that do not describe a sane, bounded run."""


class WorkerError(LoadTestError, RuntimeError):
    """A worker process failed."""


@dataclass(frozen=True)
class LoadOptions:
    url: str
    profile: schedule.Profile
    poisson: bool = False
    seed: int = 0
    connections: int = 16  # in total, shared out among the workers
    workers: int = 1
    max_requests: int | None = None
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    timeout_s: float = 5.0
    grace_s: float | None = None  # for requests still out when the schedule ends; default timeout_s
    insecure: bool = False
    cacert: str | None = None

    def check(self) -> None:
        try:
            if is_grpc_url(self.url):
                from isthmus.loadtest.grpc_client import parse_target as parse_grpc_target

                parse_grpc_target(self.url)
            else:
                parse_target(self.url)
            self.workload.check()
        except ValueError as exc:
            raise LoadOptionsError(str(exc)) from exc
        if is_grpc_url(self.url) != (self.workload.protocol == "v2-grpc"):
            raise LoadOptionsError("grpc:// and grpcs:// targets take --protocol v2-grpc, and v2-grpc needs one")
        segments = self.profile.segments
        if not segments:
            raise LoadOptionsError("the load profile is empty")
        for s in segments:
            if not (s.duration_s > 0 and s.rate_from >= 0 and s.rate_to >= 0):
                raise LoadOptionsError("every load step needs a duration > 0 and rates >= 0")
        if self.profile.peak_rate <= 0:
            raise LoadOptionsError("the rate must be above 0 requests/s")
        if self.profile.peak_rate > MAX_RATE:
            raise LoadOptionsError(f"rate {self.profile.peak_rate:g}/s is above the sanity cap of {MAX_RATE:g}/s")
        if self.profile.duration_s > MAX_DURATION_S:
            raise LoadOptionsError(f"duration {self.profile.duration_s:g}s is above the cap of {MAX_DURATION_S:g}s")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise LoadOptionsError(f"workers must be 1..{MAX_WORKERS}")
        if not self.workers <= self.connections <= MAX_CONNECTIONS:
            raise LoadOptionsError(f"connections must be between the number of workers and {MAX_CONNECTIONS}")
        if self.max_requests is not None and self.max_requests < 1:
            raise LoadOptionsError("max-requests must be at least 1")
        if not 0 < self.timeout_s <= 600 or (self.grace_s is not None and not 0 <= self.grace_s <= 600):
            raise LoadOptionsError("timeout and grace must be in (0, 600] seconds")

    @property
    def grace(self) -> float:
        return self.timeout_s if self.grace_s is None else self.grace_s

    def describe(self) -> dict[str, Any]:
        return {
            **self.profile.describe(), "poisson": self.poisson, "seed": self.seed, "connections": self.connections,
            "workers": self.workers, "max_requests": self.max_requests, "protocol": self.workload.protocol,
            "model": self.workload.model, "timeout_s": self.timeout_s,
        }


def is_grpc_url(url: str) -> bool:
    return url.lower().startswith(("grpc://", "grpcs://"))


def connections_of(options: LoadOptions, index: int) -> int:
    base, extra = divmod(options.connections, options.workers)
    return base + (1 if index < extra else 0)


async def run_worker(
    options: LoadOptions,
    index: int = 0,
    *,
    on_tick: Callable[[Tick], None] | None = None,
    before_start: Callable[[], Any] | None = None,
) -> RunResult:
    """Worker ``index`` of ``options.workers``, in the running event loop."""
    options.check()
    profile, n = options.profile, options.workers
    expected = math.ceil(options.profile.expected_count * (1.3 if options.poisson else 1.0) / n) + 1
    if options.max_requests is not None:
        expected = min(expected, math.ceil(options.max_requests / n))
    requests = build_requests(options.workload, random.Random(f"{options.seed}:{index}"), expected)
    transport: Any
    if is_grpc_url(options.url):
        from isthmus.loadtest.grpc_client import GrpcTransport  # grpc is imported only for gRPC targets

        transport = GrpcTransport(options.url, connections=connections_of(options, index), timeout_s=options.timeout_s,
                                  insecure=options.insecure, cacert=options.cacert)
    else:
        ssl_context = client_ssl_context(insecure=options.insecure, cacert=options.cacert) if options.url.startswith("https") else None
        transport = HttpTransport(options.url, connections=connections_of(options, index), timeout_s=options.timeout_s, ssl_context=ssl_context)
    prepared = [transport.prepare(r) for r in requests]
    del requests
    if gc.get_freeze_count():  # the caller froze the heap for the run: so is what was built for it (grpc, the requests)
        gc.collect()
        gc.freeze()
    span = schedule.span(profile, schedule.offsets(profile, poisson=options.poisson, seed=options.seed), options.max_requests)
    share = schedule.share(schedule.offsets(profile, poisson=options.poisson, seed=options.seed), index, n, options.max_requests)
    result = RunResult(target=options.url, profile=options.describe(), started_at=0.0, duration_s=span)
    engine = Engine(transport, prepared, share, result, grace_s=options.grace, on_tick=on_tick, before_start=before_start)
    return await engine.run()


async def run_load(options: LoadOptions, on_tick: Callable[[Tick], None] | None = None) -> RunResult:
    """Run one load to completion; in this process when ``workers == 1``, else in spawned workers."""
    options.check()
    if options.workers == 1:
        return await run_worker(options, on_tick=on_tick)
    return await asyncio.get_running_loop().run_in_executor(None, _run_processes, options, on_tick)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_load_blocking(options: LoadOptions, on_tick: Callable[[Tick], None] | None = None) -> RunResult:
    """``run_load`` on a fresh (uv)loop, with the garbage collector's old objects frozen first."""
    gc.collect()
    gc.freeze()  # the collector then never scans what existed before the run
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(run_load(options, on_tick))
    finally:
        gc.unfreeze()


# worker processes ------------------------------------------------------------------------------
def _tick_to_wire(tick: Tick) -> dict[str, Any]:
    w = tick.window
    window = None if w is None else {"start_s": w.start_s, "sent": w.sent, "ok": w.ok, "errors": dict(w.errors),
                                     "latency": encode_histogram(w.latency)}
    return {"elapsed_s": tick.elapsed_s, "intended": tick.intended, "sent": tick.sent, "ok": tick.ok,
            "errors": tick.errors, "window": window}


def _tick_from_wire(doc: dict[str, Any]) -> Tick:
    w = doc["window"]
    window = None if w is None else Interval(w["start_s"], w["sent"], w["ok"], Counter(w["errors"]), decode_histogram(w["latency"]))
    return Tick(doc["elapsed_s"], doc["intended"], doc["sent"], doc["ok"], doc["errors"], window)


def merge_ticks(ticks: list[Tick]) -> Tick:
    errors: Counter[str] = Counter()
    window: Interval | None = None
    for t in ticks:
        errors.update(t.errors)
        if t.window is not None:
            if window is None:
                window = Interval(t.window.start_s)
            if t.window.start_s == window.start_s:
                window.merge(t.window)
    return Tick(max(t.elapsed_s for t in ticks), sum(t.intended for t in ticks), sum(t.sent for t in ticks),
                sum(t.ok for t in ticks), dict(errors), window)


def _worker_main(options: LoadOptions, index: int, barrier: Any, messages: Any, with_ticks: bool) -> None:
    def tick(t: Tick) -> None:
        messages.put(("tick", index, _tick_to_wire(t)))

    async def ready() -> None:
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, START_TIMEOUT_S)

    try:
        gc.collect()
        gc.freeze()
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            result = runner.run(run_worker(options, index, on_tick=tick if with_ticks else None, before_start=ready))
        messages.put(("result", index, result.to_wire()))
    except BaseException as exc:  # reported to the parent, which raises WorkerError
        barrier.abort()
        messages.put(("error", index, f"{type(exc).__name__}: {exc}"))


def _run_processes(options: LoadOptions, on_tick: Callable[[Tick], None] | None) -> RunResult:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(options.workers)
    messages = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(options, i, barrier, messages, on_tick is not None), daemon=True)
             for i in range(options.workers)]
    for p in procs:
        p.start()
    results: dict[int, RunResult] = {}
    latest: dict[int, Tick] = {}
    try:
        while len(results) < options.workers:
            try:
                kind, index, payload = messages.get(timeout=0.5)
            except queue.Empty:
                dead = [p for i, p in enumerate(procs) if i not in results and p.exitcode not in (None, 0)]
                if dead:
                    raise WorkerError(f"worker process {dead[0].pid} exited with code {dead[0].exitcode}")
                continue
            if kind == "error":
                raise WorkerError(f"worker {index}: {payload}")
            if kind == "result":
                results[index] = RunResult.from_wire(payload)
            elif on_tick is not None:
                latest[index] = _tick_from_wire(payload)
                on_tick(merge_ticks(list(latest.values())))
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join()
    merged = results[0]
    for i in range(1, options.workers):
        merged.merge(results[i])
    return merged


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


__all__ = ["LoadOptions", "LoadOptionsError", "WorkerError", "run_load", "run_load_blocking", "run_worker"]
