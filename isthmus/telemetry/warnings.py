"""Rate-limited warnings for a degraded dependency (a backend, Redis, the control plane).

A dependency that fails on every request must not write a log line per request: the first
failure of a key is logged at once, later ones at most once per ``interval``, with the count
of those suppressed in between. (:class:`isthmus.cache.degraded.Degradation` logs per episode
for the Redis tier; this is the per-key, per-interval form for failures without an episode.)
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Hashable

_MAX_KEYS = 1024  # keys remembered; the oldest are forgotten beyond this (one more line each)


class RateLimitedLog:
    def __init__(
        self, logger: logging.Logger, interval: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = logger
        self.interval = interval
        self._clock = clock
        self._next: dict[Hashable, float] = {}  # key -> when the next line may be written
        self._suppressed: dict[Hashable, int] = {}

    def warning(self, key: Hashable, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``key`` was logged less than ``interval`` ago; True when written."""
        now = self._clock()
        due = self._next.get(key)
        if due is not None and now < due:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        skipped = self._suppressed.pop(key, 0)
        if len(self._next) >= _MAX_KEYS and key not in self._next:
            self._next.pop(next(iter(self._next)))
        self._next[key] = now + self.interval
        if skipped:
            self._log.warning(message + " (%d more like this in the last %gs)", *args, skipped, self.interval)
        else:
            self._log.warning(message, *args)
        return True
