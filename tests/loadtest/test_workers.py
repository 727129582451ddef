"""Worker processes: each sends a disjoint share of one schedule, and their results merge exactly."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from aiohttp import web

from isthmus.loadtest import schedule
from isthmus.loadtest.engine import Tick
from isthmus.loadtest.results import Interval, RunResult, new_histogram
from isthmus.loadtest.workers import (
    LoadOptions,
    LoadOptionsError,
    connections_of,
    merge_ticks,
    run_load,
)

PCTS = (0, 10, 50, 90, 99, 99.9, 99.99, 100)


def test_merged_histograms_equal_one_histogram_of_all_values() -> None:
    rng = random.Random(4)
    values = [int(rng.lognormvariate(7, 1.5)) + 1 for _ in range(30_000)]
    parts = [RunResult("t", {}, 100.0 + i, 10.0) for i in range(3)]
    whole = new_histogram()
    for n, v in enumerate(values):
        part = parts[n % 3]
        part.latency.record_value(v)
        part.ok += 1
        iv = n % 5
        while len(part.intervals) <= iv:
            part.intervals.append(Interval(float(len(part.intervals))))
        part.intervals[iv].latency.record_value(v)
        whole.record_value(v)
    parts[1].errors["timeout"] = 3
    wired = [RunResult.from_wire(p.to_wire()) for p in parts]  # as the workers send them
    merged = wired[0]
    for p in wired[1:]:
        merged.merge(p)
    assert merged.ok == 30_000 == merged.latency.get_total_count()
    assert merged.errors == Counter({"timeout": 3}) and merged.started_at == 100.0
    for pct in PCTS:
        assert merged.latency.get_value_at_percentile(pct) == whole.get_value_at_percentile(pct)
    assert merged.latency.get_max_value() == whole.get_max_value()
    assert merged.latency.get_min_value() == whole.get_min_value()
    assert merged.latency.get_mean_value() == pytest.approx(whole.get_mean_value())
    assert sum(iv.latency.get_total_count() for iv in merged.intervals) == 30_000
    assert len(merged.intervals) == 5


def test_connections_are_shared_out() -> None:
    opts = LoadOptions("http://127.0.0.1:1", schedule.constant(1, 1), connections=7, workers=3)
    assert [connections_of(opts, i) for i in range(3)] == [3, 2, 2]
    with pytest.raises(LoadOptionsError, match="connections"):
        LoadOptions("http://127.0.0.1:1", schedule.constant(1, 1), connections=2, workers=3).check()


def test_merge_ticks_sums_counts_and_windows() -> None:
    def tick(ok: int, value: int) -> Tick:
        w = Interval(2.0, ok, ok)
        w.latency.record_value(value)
        return Tick(3.0, ok, ok, ok, {"timeout": 1}, w)

    t = merge_ticks([tick(5, 100), tick(7, 300)])
    assert (t.ok, t.errors, t.window.ok, t.window.latency.get_total_count()) == (12, {"timeout": 2}, 12, 2)


async def test_two_worker_processes_send_the_single_process_schedule() -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.headers.get("x-user-id", ""))
        return web.Response(text="{}", headers={"x-isthmus-backend": "only"})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    ticks: list[Tick] = []
    try:
        result = await run_load(
            LoadOptions(url, schedule.constant(150, 2.0), connections=4, workers=2, poisson=True, seed=11),
            on_tick=ticks.append,
        )
    finally:
        await runner.cleanup()
    expected = len(list(schedule.offsets(schedule.constant(150, 2.0), poisson=True, seed=11)))
    assert result.intended == result.sent == result.ok == expected == len(hits)
    assert result.latency.get_total_count() == expected == result.variant_counts["only"]
    assert sum(iv.sent for iv in result.intervals) == expected and len(result.intervals) == 2
    assert ticks and ticks[-1].intended <= expected
