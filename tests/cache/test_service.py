"""ResultCache: L1 then L2, storing, and failing open when L2 fails or answers garbage."""

from __future__ import annotations

import asyncio
import logging

import pytest

from isthmus.cache.entry import Entry, decode_entry, encode_entry
from isthmus.cache.errors import CacheError
from isthmus.cache.fake import FakeTier
from isthmus.cache.service import ResultCache
from isthmus.codecs import InferResponse
from isthmus.config.model import CacheConfig, RedisConfig, RouteCacheConfig
from tests.waiting import until

POLICY = RouteCacheConfig(enabled=True, ttl=60, max_entry_size=10_000)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(n: float = 1.0) -> Entry:
    out = [{"name": "output-0", "datatype": "FP32", "shape": [1], "data": [n]}]
    return Entry(InferResponse(v2_outputs=out), "m-v1", "1")


class Backend:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> tuple[Entry, bool]:
        self.calls += 1
        return answer(float(self.calls)), True


def cache_with(l2: object, clock: Clock | None = None, **redis: object) -> ResultCache:
    config = CacheConfig(redis=RedisConfig(url="redis://127.0.0.1:1/0", **redis))
    return ResultCache(config, l2, clock=clock or Clock())  # type: ignore[arg-type]


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "isthmus.cache" and r.levelno >= logging.WARNING]


async def test_miss_then_l1_hit_then_l2_hit_in_another_replica():
    shared = FakeTier()
    a, b = cache_with(shared), cache_with(shared)
    backend = Backend()
    e1, s1 = await a.fetch("k", POLICY, backend, 5)
    e2, s2 = await a.fetch("k", POLICY, backend, 5)
    e3, s3 = await b.fetch("k", POLICY, backend, 5)
    assert (s1, s2, s3) == ("miss", "hit", "hit")
    assert e1 == e2 == e3 and backend.calls == 1
    assert a.stats["hit_l1"] == 1 and b.stats["hit_l2"] == 1
    assert b.l1.get("k") is not None  # an L2 hit is copied into L1


async def test_oversize_answers_are_not_stored_anywhere():
    l2 = FakeTier()
    cache = cache_with(l2)
    backend = Backend()
    small = RouteCacheConfig(enabled=True, ttl=60, max_entry_size=len(encode_entry(answer(1.0))) - 1)
    await cache.fetch("k", small, backend, 5)
    _, status = await cache.fetch("k", small, backend, 5)
    assert status == "miss" and backend.calls == 2
    assert l2.data == {} and len(cache.l1) == 0 and cache.stats["oversize"] == 2


async def test_l2_down_fails_open_counted_logged_once_backs_off_and_recovers(caplog):
    caplog.set_level(logging.INFO, logger="isthmus.cache")
    clock = Clock()
    l2 = FakeTier()
    cache = cache_with(l2, clock)
    backend = Backend()
    l2.fail = CacheError("redis GET failed: connection refused")

    for i in range(20):  # distinct keys: every one is a miss that goes to the backend
        entry, status = await cache.fetch(f"k{i}", POLICY, backend, 5)
        assert status == "miss" and entry.response.v2_outputs[0]["data"] == [i + 1]
    assert backend.calls == 20
    assert cache.redis_health.degraded and cache.redis_health.episodes == 1
    assert l2.gets == 1 and l2.sets == 0  # backing off: a dead Redis costs later requests nothing
    assert cache.stats["redis_errors"] == 1
    assert cache_warnings(caplog) == ["redis cache unavailable, serving without it: redis GET failed: connection refused"]

    clock.now += 1.0  # back-off over: tried again, still down, still one log line
    await cache.fetch("again", POLICY, backend, 5)
    assert l2.gets == 2 and cache.stats["redis_errors"] == 2
    assert len(cache_warnings(caplog)) == 1

    l2.fail = None
    clock.now += 1.0
    _, status = await cache.fetch("k0", POLICY, backend, 5)  # L1 still has it
    assert status == "hit"
    await cache.fetch("fresh", POLICY, backend, 5)
    assert not cache.redis_health.degraded
    assert "fresh" in l2.data  # stores reach Redis again
    assert len(cache_warnings(caplog)) == 2 and "recovered" in cache_warnings(caplog)[1]

    l2.fail = CacheError("redis GET took over 5ms")  # a new episode is logged again
    await cache.fetch("later", POLICY, backend, 5)
    assert cache.redis_health.episodes == 2
    assert cache_warnings(caplog)[-1].endswith("redis GET took over 5ms")


async def test_recovery_log_counts_the_failures_of_its_own_episode(caplog):
    caplog.set_level(logging.INFO, logger="isthmus.cache")
    clock = Clock()
    l2 = FakeTier()
    cache = cache_with(l2, clock)
    for episode in range(2):
        l2.fail = CacheError("down")
        for _ in range(3):
            await cache.fetch(f"x{clock.now}", POLICY, Backend(), 5)
            clock.now += 1.0
        l2.fail = None
        await cache.fetch(f"y{clock.now}", POLICY, Backend(), 5)
    recovered = [m for m in cache_warnings(caplog) if "recovered" in m]
    assert recovered == ["redis cache recovered after 3 failed calls"] * 2


GARBAGE = [
    b"\x00\xffnot json",
    b"[]",
    b'{"b": "m-v1"}',
    b'{"b": "m-v1", "v": null, "out": "nope"}',
    b'{"b": "m-v1", "v": null, "out": [1, 2]}',
    b'{"b": "m-v1", "v": null, "out": [{"name": "y"}]}',
    b'{"b": "m-v1", "v": null, "pred": [1], "naming": [1, 2, 3, 4, 5]}',
    b'{"b": "m-v1", "v": null, "pred": 7, "naming": ["a", "b", "FP32"]}',
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_unreadable_entries_raise_cache_error(garbage):
    with pytest.raises(CacheError):
        decode_entry(garbage)


def test_entries_round_trip():
    e = answer(3.0)
    assert decode_entry(encode_entry(e)) == e
    from isthmus.codecs import TensorNaming

    v1 = Entry(InferResponse(predictions=[[1, 2]], naming=TensorNaming("x", "y", "INT64"), parameters={"a": 1}),
               "m-v2", None)
    assert decode_entry(encode_entry(v1)) == v1


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_garbage_from_l2_is_a_counted_miss_and_is_replaced(garbage):
    l2 = FakeTier()
    l2.data["k"] = garbage
    cache = cache_with(l2)
    backend = Backend()
    entry, status = await cache.fetch("k", POLICY, backend, 5)
    assert status == "miss" and backend.calls == 1 and entry == answer(1.0)
    assert cache.stats["redis_errors"] == 1
    assert decode_entry(l2.data["k"]) == answer(1.0)  # the good answer replaced the garbage
    other = cache_with(l2)  # another replica now hits
    assert (await other.fetch("k", POLICY, backend, 5))[1] == "hit"


class LockedElsewhere(FakeTier):
    """A Redis where another replica holds every lock (for distributed coalescing)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock_held = True

    async def try_lock(self, key: str, ttl: float) -> str | None:
        return None

    async def unlock(self, key: str, token: str) -> None:
        pass

    async def locked(self, key: str) -> bool:
        return self.lock_held


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


async def test_waiting_for_another_replica_takes_its_answer():
    l2 = LockedElsewhere()
    cache = ResultCache(CacheConfig(redis=RedisConfig(url="redis://x:1", distributed_coalescing=True)), l2,
                        sleep=no_sleep)  # type: ignore[arg-type]
    backend = Backend()

    gets_before = l2.gets

    async def other_replica_answers() -> None:
        await until(lambda: l2.gets > gets_before + 1, "the waiter to have polled")
        l2.data["k"] = encode_entry(answer(42.0))

    asyncio.get_running_loop().create_task(other_replica_answers())
    entry, status = await asyncio.wait_for(cache.fetch("k", POLICY, backend, 5), 2)
    assert entry == answer(42.0) and backend.calls == 0 and l2.gets > gets_before + 1
    assert cache.stats["coalesced_remote"] == 1


async def test_garbage_while_waiting_for_another_replica_fails_open_and_never_reaches_l1():
    l2 = LockedElsewhere()
    cache = ResultCache(CacheConfig(redis=RedisConfig(url="redis://x:1", distributed_coalescing=True)), l2,
                        sleep=no_sleep)  # type: ignore[arg-type]
    backend = Backend()
    real_get = l2.get
    polls = 0

    async def get(key: str) -> bytes | None:
        nonlocal polls
        polls += 1
        return b"garbage" if polls > 1 else await real_get(key)  # the first lookup misses, polls see garbage

    l2.get = get  # type: ignore[method-assign]
    entry, status = await cache.fetch("k", POLICY, backend, 5)
    assert entry == answer(1.0) and backend.calls == 1
    l2.get = real_get  # type: ignore[method-assign]
    entry, status = await cache.fetch("k", POLICY, backend, 5)  # served from L1, which holds the good answer
    assert (entry, status) == (answer(1.0), "hit")


async def test_a_crashed_holder_delays_others_at_most_until_its_lock_expires():
    clock = Clock()
    l2 = LockedElsewhere()

    async def sleep(d: float) -> None:
        clock.now += d
        if clock.now >= 100.0 + 0.3:
            l2.lock_held = False  # the lock's TTL ran out in Redis
        await asyncio.sleep(0)

    cache = ResultCache(CacheConfig(redis=RedisConfig(url="redis://x:1", distributed_coalescing=True, lock_ttl=0.3)),
                        l2, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    backend = Backend()
    entry, status = await cache.fetch("k", POLICY, backend, 5)
    assert backend.calls == 1 and status == "miss"
    assert 0.3 <= clock.now - 100.0 <= 0.3 + 0.05


@pytest.mark.parametrize("budget, deadline, waited", [(0.2, None, 0.2), (5.0, 0.1, 0.1)], ids=["budget", "app-deadline"])
async def test_waiting_for_another_replica_stops_at_the_requests_budget(budget, deadline, waited):
    from isthmus.deadline import app_deadline

    clock = Clock()
    l2 = LockedElsewhere()  # the holder never answers and its lock (TTL 5 s) never expires here

    async def sleep(d: float) -> None:
        clock.now += d
        await asyncio.sleep(0)

    cache = ResultCache(CacheConfig(redis=RedisConfig(url="redis://x:1", distributed_coalescing=True, lock_ttl=5.0)),
                        l2, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    backend = Backend()
    with app_deadline(deadline):
        entry, status = await cache.fetch("k", POLICY, backend, budget)
    assert backend.calls == 1 and status == "miss"  # computed here once the budget was spent
    assert waited <= clock.now - 100.0 <= waited + 0.06


async def test_a_fallback_answer_is_shared_but_never_stored():
    l2 = FakeTier()
    cache = cache_with(l2)

    async def fell_back() -> tuple[Entry, bool]:
        e = answer(7.0)
        return Entry(e.response, "fallback", None), False  # the caller says: do not store

    entry, status = await cache.fetch("k", POLICY, fell_back, 5)
    assert entry.backend == "fallback" and status == "miss"
    assert cache.peek("k") is None and "k" not in l2.data and cache.stats["stored"] == 0
