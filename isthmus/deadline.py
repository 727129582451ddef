"""The app's deadline, as seen by backend clients and the cache (a bottom module every layer may import).

An ingress that knows the client's deadline (gRPC carries one on every call) sets it for the
request with :func:`app_deadline`; a backend sizes its own call with :func:`call_timeout`, so the
model server is told to give up when the app already has. A context variable, not a parameter:
it crosses the data plane (routing, cache, coalescing) without each layer passing it on, and a
coalesced call runs with the deadline of the request that started it.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

# Absolute time.monotonic() by which the app needs its answer; None: no deadline.
_DEADLINE: ContextVar[float | None] = ContextVar("isthmus_app_deadline", default=None)


@contextmanager
def app_deadline(remaining: float | None, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Within the block, backends see a deadline ``remaining`` seconds from now (None: none)."""
    token = _DEADLINE.set(None if remaining is None else clock() + remaining)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def call_timeout(timeout: float, clock: Callable[[], float] = time.monotonic) -> float:
    """A backend call's timeout: its own ``timeout``, or less when the app's deadline is nearer.

    May be zero or negative: the app has already given up.
    """
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    return min(timeout, deadline - clock())
