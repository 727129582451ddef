"""Wait for a condition, never for a time: poll it until it holds or a deadline passes.

    await until(lambda: len(calls) == 2, "both calls to reach the backend")
    wait_until(lambda: log_path.exists(), "the log file", timeout=30)

The condition may be a plain callable or (async form only) a coroutine function. On time-out
the failure names ``what`` and, when ``detail`` is given, its text (a process log, a stats dump).
The poll interval is small and fixed: the deadline, not the interval, bounds the wait.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Awaitable, Callable, TypeVar

__all__ = ["until", "wait_until"]

T = TypeVar("T")
_INTERVAL = 0.01


def _timed_out(what: str, timeout: float, detail: Callable[[], str] | None) -> AssertionError:
    message = f"not within {timeout:g}s: {what}"
    if detail is not None:
        message += "\n" + detail()
    return AssertionError(message)


async def until(
    condition: Callable[[], T | Awaitable[T]],
    what: str,
    timeout: float = 10.0,
    *,
    interval: float = _INTERVAL,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` (sync or async) until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, detail)
        await asyncio.sleep(interval)


def wait_until(
    condition: Callable[[], T],
    what: str,
    timeout: float = 10.0,
    *,
    interval: float = _INTERVAL,
    detail: Callable[[], str] | None = None,
) -> T:
    """The blocking twin of :func:`until`, for threads and subprocess tests."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, detail)
        time.sleep(interval)
    return value
