"""The one interface of a cache tier, and a fake for tests of the layers above."""

from __future__ import annotations

from typing import Protocol


class CacheTier(Protocol):
    """Bytes by key with a TTL. ``get``/``set`` raise :class:`CacheError` when the tier fails."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def close(self) -> None: ...


class FakeTier:
    """A dict; ``fail`` makes every call raise, to test fail-open behaviour."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.fail: Exception | None = None
        self.gets = self.sets = 0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        if self.fail:
            raise self.fail
        return self.data.get(key)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.sets += 1
        if self.fail:
            raise self.fail
        self.data[key] = value

    async def close(self) -> None:
        pass
