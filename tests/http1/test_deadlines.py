"""Coarse deadlines: expired on the tick, never before their time, not after being unwatched."""

import asyncio

from isthmus.http1.deadlines import Deadlines


class Item:
    def __init__(self):
        self.expired = 0

    def expire(self):
        self.expired += 1


async def test_expires_overdue_items_only_and_stops_ticking_when_empty():
    now = [0.0]
    d = Deadlines(tick=0.01, clock=lambda: now[0])
    soon, later, gone = Item(), Item(), Item()
    d.watch(soon, 1.0)
    d.watch(later, 2.0)
    d.watch(gone, 1.0)
    d.unwatch(gone)
    await asyncio.sleep(0.03)
    assert (soon.expired, later.expired) == (0, 0)  # not yet their time
    now[0] = 1.5
    await asyncio.sleep(0.03)
    assert (soon.expired, later.expired, gone.expired) == (1, 0, 0)
    now[0] = 2.0
    await asyncio.sleep(0.03)
    assert (soon.expired, later.expired) == (1, 1)
    assert len(d) == 0 and d._timer is None  # nothing watched: no timer left armed


async def test_close_cancels_the_tick():
    d = Deadlines(tick=0.01, clock=lambda: 10.0)
    item = Item()
    d.watch(item, 5.0)
    d.close()
    await asyncio.sleep(0.03)
    assert item.expired == 0 and len(d) == 0
