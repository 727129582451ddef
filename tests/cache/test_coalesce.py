"""Single-flight: one call per key in flight; shared results and errors; bounded waits."""

from __future__ import annotations

import asyncio

import pytest

from isthmus.cache.coalesce import Coalescer, WaitTimeout
from tests.waiting import until


async def test_200_concurrent_identical_calls_make_exactly_one():
    c: Coalescer[str] = Coalescer()
    calls = 0
    gate = asyncio.Event()

    async def call() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return f"answer {calls}"

    tasks = [asyncio.create_task(c.run("k", call, wait_timeout=5)) for _ in range(200)]
    await until(lambda: c.calls + c.followers == 200, "all 200 calls to arrive")
    assert len(c) == 1
    gate.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert {r for r, _ in results} == {"answer 1"}
    assert sorted(shared for _, shared in results).count(False) == 1  # one leader, 199 followers
    assert c.calls == 1 and c.followers == 199
    assert len(c) == 0  # nothing left in flight


async def test_different_keys_do_not_share():
    c: Coalescer[str] = Coalescer()
    gate = asyncio.Event()

    async def call(k: str) -> str:
        await gate.wait()
        return k

    running = asyncio.gather(*(c.run(k, lambda k=k: call(k), 5) for k in ["a", "b", "a", "b"]))
    await until(lambda: c.calls + c.followers == 4, "all 4 calls to arrive")
    gate.set()
    results = await running
    assert [r for r, _ in results] == ["a", "b", "a", "b"]
    assert c.calls == 2


async def test_every_waiter_gets_the_same_error():
    c: Coalescer[str] = Coalescer()
    calls = 0

    class Boom(Exception):
        pass

    error = Boom("backend said no")
    gate = asyncio.Event()

    async def call() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise error

    running = asyncio.gather(*(c.run("k", call, 5) for _ in range(50)), return_exceptions=True)
    await until(lambda: c.followers == 49, "49 followers")
    gate.set()
    results = await running
    assert calls == 1
    assert all(r is error for r in results)
    # the next request after the failure tries again
    with pytest.raises(Boom):
        await c.run("k", call, 5)
    assert calls == 2


async def test_a_cancelled_leader_does_not_fail_its_followers():
    c: Coalescer[str] = Coalescer()
    calls = 0

    gate = asyncio.Event()

    async def call() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "done"

    leader = asyncio.create_task(c.run("k", call, 5))
    await until(lambda: calls == 1, "the leader's call to start")
    followers = [asyncio.create_task(c.run("k", call, 5)) for _ in range(10)]
    await until(lambda: c.followers == 10, "10 followers")
    leader.cancel()  # the app that started the call hung up
    with pytest.raises(asyncio.CancelledError):
        await leader
    gate.set()
    assert [await f for f in followers] == [("done", True)] * 10
    assert calls == 1


async def test_a_cancelled_follower_does_not_cancel_the_call():
    c: Coalescer[str] = Coalescer()
    gate = asyncio.Event()

    async def call() -> str:
        await gate.wait()
        return "done"

    leader = asyncio.create_task(c.run("k", call, 5))
    await until(lambda: len(c) == 1, "the leader's call in flight")
    follower = asyncio.create_task(c.run("k", call, 5))
    await until(lambda: c.followers == 1, "the follower to join")
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    gate.set()
    assert await leader == ("done", False)


async def test_a_bounded_wait_raises_wait_timeout_and_the_call_goes_on():
    c: Coalescer[str] = Coalescer()
    release = asyncio.Event()

    async def call() -> str:
        await release.wait()
        return "late"

    leader = asyncio.create_task(c.run("k", call, 5))
    await until(lambda: len(c) == 1, "the leader's call in flight")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(WaitTimeout):
        await c.run("k", call, wait_timeout=0.05)
    assert 0.04 <= loop.time() - started < 0.5
    release.set()
    assert await leader == ("late", False)


async def test_a_call_that_times_out_itself_shares_its_error():
    c: Coalescer[str] = Coalescer()

    gate = asyncio.Event()

    async def call() -> str:
        await gate.wait()
        raise TimeoutError("backend timed out")

    running = asyncio.gather(*(c.run("k", call, 5) for _ in range(5)), return_exceptions=True)
    await until(lambda: c.followers == 4, "4 followers")
    gate.set()
    results = await running
    assert all(isinstance(r, TimeoutError) and not isinstance(r, WaitTimeout) for r in results)
