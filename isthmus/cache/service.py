"""The result cache as the data plane sees it: look up, coalesce, call, store — failing open.

L1 (in-process) answers first, then L2 (Redis) when configured. Any cache
failure is a miss: the request goes to the backend with no client-visible
error, the failure is counted, logged once per episode, and Redis is skipped
for a short back-off before it is tried again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Awaitable, Callable, Literal, TypeVar

from isthmus.cache.base import CacheTier, LocalTier
from isthmus.cache.coalesce import Coalescer
from isthmus.cache.degraded import Degradation
from isthmus.cache.entry import Entry, decode_entry, encode_entry
from isthmus.cache.errors import CacheError, RedisConnecting
from isthmus.cache.memory import MemoryTier
from isthmus.codecs import CodecError
from isthmus.config.model import CacheConfig, RouteCacheConfig
from isthmus.deadline import call_timeout
from isthmus.telemetry.steps import StepSpans

Status = Literal["hit", "miss"]
#: The call that computes a missing answer: ``(entry, store)``, where ``store`` says whether the
#: cache may keep it (the caller decides; the cache knows nothing of why not).
Call = Callable[[], Awaitable[tuple[Entry, bool]]]
T = TypeVar("T")


class ResultCache:
    def __init__(
        self,
        config: CacheConfig,
        l2: CacheTier | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        spans: StepSpans | None = None,
    ):
        """``spans``: tracing's span factory (None: tracing off); each step then runs in its span
        (:mod:`isthmus.cache.spans`)."""
        self.l1: LocalTier = MemoryTier(config.memory_max_bytes, clock)
        self.l2 = l2
        self.redis_health = Degradation("redis cache", clock=clock)
        # unreadable entries: counted and logged per episode, but Redis itself answered, so no back-off
        # (backing off would also keep the good answer from replacing the bad one)
        self.redis_entries = Degradation("redis cache entries", backoff=0.0, clock=clock)
        self.coalescer: Coalescer[Entry] = Coalescer()
        self.stats: Counter[str] = Counter()
        redis = config.redis
        self._distributed = bool(l2 is not None and redis is not None and redis.distributed_coalescing)
        self._lock_ttl = redis.lock_ttl if redis is not None else 5.0
        self._clock = clock
        self._sleep = sleep
        #: whether each step runs in a span (tracing on)
        self.traced = spans is not None
        if spans is not None:
            from isthmus.cache.spans import trace_steps

            trace_steps(self, spans)

    async def fetch(self, key: str, policy: RouteCacheConfig, call: Call, wait_timeout: float,
                    lookup: bool = True, store: bool = True) -> tuple[Entry, Status]:
        """The cached answer for ``key``, or ``call()``'s (shared with identical requests in flight)."""
        if lookup:
            cached = await self.get(key, policy.ttl)
            if cached is not None:
                return cached, "hit"
        return await self.computed(key, policy, call, wait_timeout, store), "miss"

    async def computed(self, key: str, policy: RouteCacheConfig, call: Call, wait_timeout: float,
                       store: bool = True) -> Entry:
        """``call()``'s answer, or that of an identical request in flight (coalescing)."""
        compute = lambda: self._compute(key, policy, call, store, wait_timeout)  # noqa: E731
        if policy.coalesce:
            entry, shared = await self.coalescer.run(key, compute, wait_timeout)
            if shared:
                self.stats["coalesced"] += 1
            return entry
        return await compute()

    def peek(self, key: str) -> Entry | None:
        """The L1 entry for ``key``, without waiting for anything (the data plane's fast path)."""
        cached = self.l1.get(key)
        if cached is not None:
            self.stats["hit_l1"] += 1
        return cached  # type: ignore[no-any-return]

    async def get(self, key: str, ttl: float) -> Entry | None:
        cached = self.l1.get(key)
        if cached is not None:
            self.stats["hit_l1"] += 1
            return cached  # type: ignore[no-any-return]
        entry, _ = await self._l2_entry(key, ttl)
        if entry is not None:
            self.stats["hit_l2"] += 1
            return entry
        self.stats["miss"] += 1
        return None

    async def _l2_entry(self, key: str, ttl: float) -> tuple[Entry | None, bool]:
        """``(entry, unreadable)``: the entry L2 holds for ``key``, copied into L1, or None when absent,
        unreadable or Redis fails."""
        l2 = self._l2()
        data = None if l2 is None else await self._shared(l2.get(key))
        if data is None:
            return None, False
        try:
            entry = decode_entry(data)
        except CacheError as exc:
            self.stats["redis_errors"] += 1
            self.stats["redis_unreadable"] += 1
            self.redis_entries.failed(str(exc))
            return None, True
        self.redis_entries.succeeded()
        self.l1.set(key, entry, ttl, len(data))
        return entry, False

    async def put(self, key: str, entry: Entry, policy: RouteCacheConfig) -> bool:
        try:
            data = encode_entry(entry)
        except CodecError:  # BYTES that are not UTF-8 (binary tensor data): the JSON entry cannot hold them
            self.stats["unstorable"] += 1
            return False
        if len(data) > policy.max_entry_size:
            self.stats["oversize"] += 1
            return False
        self.l1.set(key, entry, policy.ttl, len(data))
        l2 = self._l2()
        if l2 is not None:
            await self._shared(l2.set(key, data, policy.ttl))
        self.stats["stored"] += 1
        return True

    async def _compute(self, key: str, policy: RouteCacheConfig, call: Call, store: bool, budget: float) -> Entry:
        """``budget``: the longest this request waits for another replica's answer (also bounded
        by the lock's TTL and the app's deadline) before it calls the backend itself."""
        token = None
        l2 = self._l2() if self._distributed and store else None
        if l2 is not None:
            token = await self._shared(l2.try_lock(key, self._lock_ttl))
            if token is None and not self.redis_health.degraded:
                waited = await self._wait_for_other_replica(key, policy.ttl, min(call_timeout(self._lock_ttl), budget))
                if waited is not None:
                    return waited
        try:
            entry, storable = await call()
            if store and storable:
                await self.put(key, entry, policy)
            return entry
        finally:
            if token is not None and (l2 := self._l2()) is not None:
                await self._shared(l2.unlock(key, token))

    async def _wait_for_other_replica(self, key: str, ttl: float, limit: float) -> Entry | None:
        """Another replica holds the key's lock: wait for its answer, at most ``limit`` seconds."""
        deadline = self._clock() + limit
        delay = 0.002
        while self._clock() < deadline:
            await self._sleep(delay)
            delay = min(delay * 2, 0.05)
            entry, unreadable = await self._l2_entry(key, ttl)
            if entry is not None:
                self.stats["coalesced_remote"] += 1
                return entry
            if unreadable:
                return None  # no use waiting for an answer we cannot read: compute here
            l2 = self._l2()
            if l2 is None or not await self._shared(l2.locked(key)):
                return None  # the holder gave up (crashed, or its call failed): compute here
        return None

    def _l2(self) -> CacheTier | None:
        """L2 when there is one and it is not backing off after a failure, else None."""
        l2 = self.l2
        if l2 is None or not self.redis_health.should_try():
            return None
        return l2

    async def _shared(self, op: Awaitable[T]) -> T | None:
        """One L2 operation (from :meth:`_l2`), failing open: None when it fails."""
        try:
            result = await op
        except RedisConnecting:
            self.stats["redis_connecting"] += 1  # a fresh client still connecting: a miss, no back-off
            return None
        except CacheError as exc:
            self.stats["redis_errors"] += 1
            self.redis_health.failed(str(exc))
            return None
        self.redis_health.succeeded()
        return result

    async def start(self) -> None:
        if self.l2 is not None and not await self.l2.start():
            self.redis_health.failed("cannot connect at start")

    async def close(self) -> None:
        self.l1.close()
        if self.l2 is not None:
            await self.l2.close()
