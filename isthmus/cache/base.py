"""The interfaces of the cache tiers, as :class:`isthmus.cache.service.ResultCache` calls them.

Two tiers, two Protocols, because they differ in kind, not in degree:

- :class:`LocalTier` (L1, :class:`isthmus.cache.memory.MemoryTier`): in-process, synchronous (no
  I/O, so a hit costs no await), holding decoded entries as objects with their encoded size.
- :class:`CacheTier` (L2, :class:`isthmus.cache.redis_tier.RedisTier`; the in-process
  :class:`isthmus.cache.fake.FakeTier` for tests): shared between replicas, asynchronous, bytes
  by key with a TTL, plus the compute lock used to coalesce across replicas. Every call may raise
  :class:`isthmus.cache.errors.CacheError` (the service then fails open); ``get``s made in one
  event-loop turn may be pipelined by the tier (Redis sends them as one MGET).
"""

from __future__ import annotations

from typing import Any, Protocol


class LocalTier(Protocol):
    """L1: values by key, each with a TTL and the size it counts for."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any, ttl: float, size: int | None = None) -> None: ...

    def close(self) -> None: ...


class CacheTier(Protocol):
    """L2: bytes by key with a TTL, and a per-key compute lock. Failures raise ``CacheError``."""

    async def start(self) -> bool:
        """Connect ahead of the first request; False when the tier is not reachable yet."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def try_lock(self, key: str, ttl: float) -> str | None:
        """A token when this replica now holds ``key``'s compute lock (for ``ttl`` seconds), else None."""
        ...

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock taken with ``token`` (a lock since taken by another is left alone)."""
        ...

    async def locked(self, key: str) -> bool:
        """Whether some replica holds ``key``'s compute lock."""
        ...

    async def close(self) -> None: ...
