"""Coordinated omission: a server that freezes once for 1 s must show up as latency, not as a lower rate.

At 200 rps on one connection, the requests due during a 1 s stall wait for it: their latency from
their intended send time runs from ~1 s down to ~0, so about rate x stall / 2 = 100 of them exceed
500 ms. A closed-loop tool (or one timing from the actual send) would record one slow request.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from hdrh.histogram import HdrHistogram

from isthmus.loadtest import schedule
from isthmus.loadtest.workers import LoadOptions, run_load

RATE, DURATION, STALL = 200, 3.0, 1.0


def count_above(h: HdrHistogram, us: int) -> int:
    return sum(item.count_added_in_this_iter_step for item in h.get_recorded_iterator() if item.value_iterated_to > us)


async def test_a_stall_shows_as_latency_and_the_send_rate_holds() -> None:
    state = {"first": None, "stalled": False}

    async def handler(request: web.Request) -> web.Response:
        now = time.monotonic()
        state["first"] = state["first"] or now
        if not state["stalled"] and now - state["first"] >= 1.0:
            state["stalled"] = True
            await asyncio.sleep(STALL)
        return web.Response(text="{}")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        began = time.monotonic()
        result = await run_load(LoadOptions(url, schedule.constant(RATE, DURATION), connections=1))
        wall = time.monotonic() - began
    finally:
        await runner.cleanup()

    assert state["stalled"]
    # the schedule was kept: every intended request was sent and answered, none dropped or delayed away
    assert (result.intended, result.sent, result.ok, sum(result.errors.values())) == (600, 600, 600, 0)
    assert [iv.sent for iv in result.intervals] == [200, 200, 200]
    assert wall < DURATION + 1.0  # sending did not stretch the run by the stall

    lat, svc = result.latency, result.service_time
    assert 0.95 * STALL * 1e6 <= lat.get_max_value() <= 1.4 * STALL * 1e6
    slow = count_above(lat, 500_000)
    assert slow >= 0.9 * RATE * STALL / 2  # theory: ~100
    assert slow <= 1.3 * RATE * STALL / 2
    # the time from the actual send saw the stall once (the request in flight), not 100 times
    assert count_above(svc, 500_000) <= 2
    assert svc.get_value_at_percentile(99) < 100_000
