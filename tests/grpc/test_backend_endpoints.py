"""The gRPC backends send each try to the endpoint the upstream layer names, within the try's
timeout, and say whether a failed call was sent: against real grpc.aio servers (Isthmus's own V2
ingress, the TF Serving stand-in), with the chaos proxy in front for connection faults."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from isthmus.backends import BackendTimeout, BackendUnavailable, CallContext, build_backend
from isthmus.backends.fake import FakeBackend, doubling
from isthmus.codecs import InferRequest, Tensor
from isthmus.config import Config
from isthmus.loadtest.chaos_proxy import Chaos, ChaosProxy
from isthmus.upstream.outcome import Outcome, outcome_of
from tests.conftest import free_port
from tests.grpc.conftest import SlowBackend, grpc_config
from tests.servers.tfserving_grpc import Model, start_server
from tests.waiting import until

X = InferRequest(inputs=(Tensor("x", "FP32", np.array([1.0], dtype=np.float32)),))


def ctx(endpoint: int = -1, timeout: float | None = None) -> CallContext:
    return CallContext("m", "rid-1", endpoint=endpoint, timeout=timeout)


async def started(**doc):
    b = build_backend(Config.model_validate({"backends": [{"name": "g", **doc}]}).backends[0])
    await b.start()
    return b


async def upstream(gateway, backend):
    routes = [{"model": "m", "variants": [{"backend": backend.name, "weight": 1}]}]
    return await gateway(grpc_config([backend.name], routes=routes), backends={backend.name: backend})


async def test_kserve_v2_grpc_sends_to_the_endpoint_named_over_its_channels(gateway):
    one, two = FakeBackend("u1", doubling(1)), FakeBackend("u2", doubling(2))
    a, b = await upstream(gateway, one), await upstream(gateway, two)
    backend = await started(protocol="kserve-v2-grpc", endpoints=[a.grpc_target, b.grpc_target], channels=2)
    try:
        for _ in range(4):
            await backend.infer(X, ctx(1))
        assert (len(one.calls), len(two.calls)) == (0, 4)
        await backend.infer(X, ctx(0))
        assert (len(one.calls), len(two.calls)) == (1, 4)
        for _ in range(4):  # -1: the backend's own rotation over every channel, as before
            await backend.infer(X, ctx(-1))
        assert (len(one.calls), len(two.calls)) == (3, 6)
        assert backend.endpoints == [f"grpc://{a.grpc_target}", f"grpc://{b.grpc_target}"]
    finally:
        await backend.close()


async def test_kserve_v2_grpc_per_try_timeout(gateway):
    server = await upstream(gateway, SlowBackend("u", delay=3.0))
    backend = await started(protocol="kserve-v2-grpc", endpoints=[server.grpc_target], timeout="10s")
    loop = asyncio.get_running_loop()
    try:
        start = loop.time()
        with pytest.raises(BackendTimeout, match="DEADLINE_EXCEEDED"):
            await backend.infer(X, ctx(0, timeout=0.3))
        assert loop.time() - start < 1.0
    finally:
        await backend.close()


async def test_tfserving_grpc_sends_to_the_endpoint_named():
    slow, fast = Model("m", delay=1.0), Model("m", offset=1000)
    (s1, p1), (s2, p2) = await start_server(slow), await start_server(fast)
    b = await started(protocol="tfserving-grpc", endpoints=[f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"], model="m",
                      timeout="10s")  # fmt: skip
    loop = asyncio.get_running_loop()
    try:
        for _ in range(3):
            await b.infer(X, ctx(1))
        assert (len(slow.calls), len(fast.calls)) == (0, 3)
        start = loop.time()
        with pytest.raises(BackendTimeout):
            await b.infer(X, ctx(0, timeout=0.2))  # the try's timeout, not the backend's 10 s
        assert loop.time() - start < 0.8 and len(slow.calls) == 1
    finally:
        await b.close()
        await s1.stop(None)
        await s2.stop(None)


@pytest.fixture
async def tfs():
    model = Model("m")
    server, port = await start_server(model)
    yield model, port
    await server.stop(None)


async def test_a_refused_grpc_endpoint_is_unavailable_and_unsent(tfs):
    model, port = tfs
    async with ChaosProxy("127.0.0.1", port, port=free_port(), chaos=Chaos("refuse")) as proxy:
        b = await started(protocol="tfserving-grpc", endpoints=[proxy.address], model="m")
        try:
            with pytest.raises(BackendUnavailable) as err:
                await b.infer(X, ctx(0))
            assert (err.value.sent, err.value.grpc_code) == (False, "UNAVAILABLE"), err.value
            assert outcome_of(err.value) is Outcome.CONNECT_FAILURE and model.calls == []

            await proxy.set(Chaos())

            async def answers() -> bool:  # gRPC reconnects after its own back-off
                try:
                    await b.infer(X, ctx(0))
                except BackendUnavailable:
                    return False
                return True

            await until(answers, "the backend to answer through the proxy again", timeout=30)
        finally:
            await b.close()


async def test_a_grpc_connection_reset_mid_call_is_unavailable_and_sent(tfs):
    model, port = tfs
    async with ChaosProxy("127.0.0.1", port) as proxy:
        b = await started(protocol="tfserving-grpc", endpoints=[proxy.address], model="m")
        try:
            await b.infer(X, ctx(0))  # the HTTP/2 connection is up
            await proxy.set(Chaos("reset"))
            with pytest.raises(BackendUnavailable) as err:
                await b.infer(X, ctx(0))
            assert (err.value.sent, err.value.grpc_code) == (True, "UNAVAILABLE"), err.value
            assert proxy.stats.resets == 1
        finally:
            await b.close()


async def test_a_blackholed_grpc_endpoint_times_out_within_the_per_try_timeout(tfs):
    model, port = tfs
    async with ChaosProxy("127.0.0.1", port) as proxy:
        b = await started(protocol="tfserving-grpc", endpoints=[proxy.address], model="m", timeout="10s")
        loop = asyncio.get_running_loop()
        try:
            await b.infer(X, ctx(0))
            await proxy.set(Chaos("blackhole"))
            start = loop.time()
            with pytest.raises(BackendTimeout) as err:
                await b.infer(X, ctx(0, timeout=0.3))
            assert 0.3 <= loop.time() - start < 1.0
            assert outcome_of(err.value) is Outcome.TIMEOUT and len(model.calls) == 1
        finally:
            await b.close()


async def test_a_grpc_endpoint_that_never_completes_its_handshake_fails_unsent_after_connect_timeout(tfs):
    """Blackholed from the first byte: TCP is accepted, HTTP/2 never starts, so nothing was sent;
    gRPC's connect attempt gives up after ``connect_timeout`` and the call fails then, not at its deadline."""
    model, port = tfs
    async with ChaosProxy("127.0.0.1", port, chaos=Chaos("blackhole")) as proxy:
        b = await started(protocol="tfserving-grpc", endpoints=[proxy.address], model="m", timeout="10s",
                          connect_timeout="300ms")  # fmt: skip
        loop = asyncio.get_running_loop()
        try:
            start = loop.time()
            with pytest.raises(BackendUnavailable) as err:
                await b.infer(X, ctx(0, timeout=5.0))
            assert loop.time() - start < 2.0
            assert (err.value.sent, err.value.grpc_code) == (False, "UNAVAILABLE"), err.value
            assert model.calls == []
        finally:
            await b.close()
