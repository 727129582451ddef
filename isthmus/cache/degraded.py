"""Fail-open bookkeeping for a dependency: count failures, log once per episode, back off."""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("isthmus.cache")


class Degradation:
    """An episode starts at the first failure and ends at the next success.

    While degraded, :meth:`should_try` is False for ``backoff`` seconds after
    each failure, so a dead dependency costs requests nothing.
    """

    def __init__(self, name: str, backoff: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.backoff = backoff
        self._clock = clock
        self.failures = 0  # in all episodes
        self.episodes = 0
        self._episode_failures = 0
        self.degraded = False
        self._retry_at = 0.0

    def should_try(self) -> bool:
        return not self.degraded or self._clock() >= self._retry_at

    def failed(self, reason: str) -> None:
        self.failures += 1
        self._episode_failures += 1
        self._retry_at = self._clock() + self.backoff
        if not self.degraded:
            self.degraded = True
            self.episodes += 1
            self._episode_failures = 1
            log.warning("%s unavailable, serving without it: %s", self.name, reason)

    def succeeded(self) -> None:
        if self.degraded:
            self.degraded = False
            log.warning("%s recovered after %d failed calls", self.name, self._episode_failures)
