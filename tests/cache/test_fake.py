"""The cache tiers' seam: the fake and the Redis tier carry every operation of ``CacheTier`` (and the
in-process L1 those of ``LocalTier``), and the fake's lock behaves as Redis's does."""

from __future__ import annotations

import inspect

import pytest

from isthmus.cache.base import CacheTier, LocalTier
from isthmus.cache.errors import CacheError
from isthmus.cache.fake import FakeTier
from isthmus.cache.memory import MemoryTier
from isthmus.cache.redis_tier import RedisTier


def _operations(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


@pytest.mark.parametrize(("tier", "protocol"), [(FakeTier, CacheTier), (RedisTier, CacheTier), (MemoryTier, LocalTier)])
def test_each_tier_has_every_operation_of_its_protocol(tier, protocol):
    ops = _operations(protocol)
    assert {"get", "set", "close"} <= set(ops)
    for name, signature in ops.items():
        implemented = getattr(tier, name, None)
        assert implemented is not None, f"{tier.__name__} lacks {name}"
        assert list(inspect.signature(implemented).parameters)[: len(signature.parameters)] == list(signature.parameters)
        assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(getattr(protocol, name))


async def test_the_fakes_lock_is_held_by_one_token_at_a_time():
    tier = FakeTier()
    token = await tier.try_lock("k", 5.0)
    assert token is not None and await tier.locked("k")
    assert await tier.try_lock("k", 5.0) is None  # held
    await tier.unlock("k", "not-the-token")
    assert await tier.locked("k")  # another's token releases nothing
    await tier.unlock("k", token)
    assert not await tier.locked("k") and await tier.try_lock("k", 5.0) is not None


async def test_the_fake_fails_every_operation_when_told_to():
    tier = FakeTier()
    tier.fail = CacheError("down")
    for op in (tier.get("k"), tier.set("k", b"v", 1.0), tier.try_lock("k", 1.0), tier.locked("k"), tier.unlock("k", "t")):
        with pytest.raises(CacheError):
            await op
    assert not await tier.start()
