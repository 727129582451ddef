"""L1: TTL on an injected clock, LRU eviction bounded by bytes."""

from __future__ import annotations

from isthmus.cache.memory import MemoryTier


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_entries_expire_after_their_ttl():
    clock = Clock()
    tier = MemoryTier(1000, clock)
    tier.set("a", b"A", ttl=10)
    tier.set("b", b"B", ttl=30)
    clock.now += 9.999
    assert tier.get("a") == b"A"
    clock.now += 0.001
    assert tier.get("a") is None
    assert tier.get("b") == b"B"
    assert len(tier) == 1 and tier.size == 1  # the expired entry's bytes are released
    clock.now += 20
    assert tier.get("b") is None
    assert tier.size == 0


async def test_overwriting_renews_the_ttl_and_accounts_bytes_once():
    clock = Clock()
    tier = MemoryTier(1000, clock)
    tier.set("a", b"x" * 100, ttl=10)
    clock.now += 8
    tier.set("a", b"y" * 50, ttl=10)
    assert tier.size == 50 and len(tier) == 1
    clock.now += 8
    assert tier.get("a") == b"y" * 50


async def test_least_recently_used_entries_are_evicted_by_bytes():
    tier = MemoryTier(300, Clock())
    for k in "abc":
        tier.set(k, k.encode() * 100, ttl=60)
    assert tier.size == 300
    assert tier.get("a") is not None  # a is now the most recently used; b the least
    tier.set("d", b"d" * 100, ttl=60)
    assert tier.get("b") is None
    assert [tier.get(k) is not None for k in "acd"] == [True, True, True]
    assert tier.size == 300
    tier.set("e", b"e" * 250, ttl=60)  # needs the room of three entries
    assert tier.size <= 300
    assert tier.get("e") == b"e" * 250
    assert len(tier) == 1


async def test_an_entry_larger_than_the_whole_tier_is_not_stored_and_evicts_nothing():
    tier = MemoryTier(100, Clock())
    tier.set("small", b"s" * 10, ttl=60)
    tier.set("huge", b"h" * 101, ttl=60)
    assert tier.get("huge") is None
    assert tier.get("small") == b"s" * 10
    assert tier.size == 10
