"""An in-process :class:`isthmus.cache.base.CacheTier`, for tests of the layers above (no Redis).

A dict of bytes and a dict of lock tokens; ``fail`` makes every call raise it, to test fail-open
behaviour. TTLs are not enforced (tests that need expiry use Redis: tests/cache/test_redis_tier.py).
"""

from __future__ import annotations

import itertools


class FakeTier:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.locks: dict[str, str] = {}
        self.fail: Exception | None = None
        self.gets = self.sets = 0
        self._tokens = itertools.count(1)

    def _check(self) -> None:
        if self.fail:
            raise self.fail

    async def start(self) -> bool:
        return self.fail is None

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        self._check()
        return self.data.get(key)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.sets += 1
        self._check()
        self.data[key] = value

    async def try_lock(self, key: str, ttl: float) -> str | None:
        self._check()
        if key in self.locks:
            return None
        token = self.locks[key] = str(next(self._tokens))
        return token

    async def unlock(self, key: str, token: str) -> None:
        self._check()
        if self.locks.get(key) == token:
            del self.locks[key]

    async def locked(self, key: str) -> bool:
        self._check()
        return key in self.locks

    async def close(self) -> None:
        pass
