"""Coarse deadlines: expired on the tick, never before their time, not after being unwatched."""

import asyncio

from isthmus.http1.deadlines import Deadlines
from tests.waiting import until


class Item:
    def __init__(self):
        self.expired = 0

    def expire(self):
        self.expired += 1


class Clock:
    """A settable clock that counts how often it is read (each tick reads it once)."""

    def __init__(self) -> None:
        self.now, self.reads = 0.0, 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    async def ticks(self, n: int = 3) -> None:
        """Wait until the clock has been read ``n`` more times (``n`` ticks have run)."""
        target = self.reads + n
        await until(lambda: self.reads >= target, f"{n} ticks")


async def test_expires_overdue_items_only_and_stops_ticking_when_empty():
    clock = Clock()
    d = Deadlines(tick=0.01, clock=clock)
    soon, later, gone = Item(), Item(), Item()
    d.watch(soon, 1.0)
    d.watch(later, 2.0)
    d.watch(gone, 1.0)
    d.unwatch(gone)
    await clock.ticks()
    assert (soon.expired, later.expired) == (0, 0)  # not yet their time
    clock.now = 1.5
    await clock.ticks()
    assert (soon.expired, later.expired, gone.expired) == (1, 0, 0)
    clock.now = 2.0
    await until(lambda: later.expired, "the later item to expire")
    assert (soon.expired, later.expired) == (1, 1)
    assert len(d) == 0 and d._timer is None  # nothing watched: no timer left armed


async def test_close_cancels_the_tick():
    d = Deadlines(tick=0.01, clock=lambda: 10.0)
    item = Item()
    d.watch(item, 5.0)
    d.close()
    await asyncio.sleep(0.03)
    assert item.expired == 0 and len(d) == 0
