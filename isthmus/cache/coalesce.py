"""Single-flight: identical in-flight requests (same key) share one call.

The call runs as its own task, so a leader whose request is cancelled (the
app hung up) or times out does not fail its followers; every waiter gets the
same result or the same error, and no waiter waits longer than it asked.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    """A follower gave up waiting for the shared call."""


class Coalescer(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[T]] = {}
        self.calls = 0  # calls actually made
        self.followers = 0  # requests that waited on another's call

    def __len__(self) -> int:
        return len(self._inflight)

    async def run(self, key: str, call: Callable[[], Awaitable[T]], wait_timeout: float) -> tuple[T, bool]:
        """``(result, shared)``; ``shared`` is True when another request's call answered this one."""
        task = self._inflight.get(key)
        if task is not None:
            self.followers += 1
            try:
                return await asyncio.wait_for(asyncio.shield(task), wait_timeout), True
            except TimeoutError:
                if task.done():  # the call itself timed out: share its error
                    return task.result(), True
                raise WaitTimeout(f"waited {wait_timeout:g}s for an identical request's answer") from None
        self.calls += 1
        task = asyncio.ensure_future(call())
        self._inflight[key] = task
        task.add_done_callback(lambda t: self._finished(key, t))
        return await asyncio.shield(task), False

    def _finished(self, key: str, task: asyncio.Task[T]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: an error nobody awaited any more is not "never retrieved"
