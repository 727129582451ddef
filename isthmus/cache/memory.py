"""L1: an in-process LRU cache bounded by bytes, with per-entry TTL on an injected clock.

Synchronous: it does no I/O, so it costs no await on the hit path. Values are kept as objects (the data plane stores decoded entries, so a hit costs no
decoding); each counts for ``size`` bytes, its encoded size, against ``max_bytes``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable


class MemoryTier:
    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic):
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        self.size = 0

    def get(self, key: str) -> Any:
        item = self._entries.get(key)
        if item is None:
            return None
        expires, value, _ = item
        if expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: str, value: Any, ttl: float, size: int | None = None) -> None:
        """``size``: what the value counts for (default ``len(value)``, for bytes)."""
        size = len(value) if size is None else size
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (self._clock() + ttl, value, size)
        self.size += size
        while self.size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        _, _, size = self._entries.pop(key)
        self.size -= size

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        self._entries.clear()
        self.size = 0
