"""Backends against the real model servers, per endpoint: health probes in each protocol (Ray
Serve, KServe V1 and V2 REST, MLServer V2 REST, both over V2 gRPC), and connection faults from the
chaos proxy in front of a real MLServer (refused: not sent; reset: sent; blackholed: the try's
timeout)."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from isthmus.backends import BackendTimeout, BackendUnavailable, CallContext, build_backend
from isthmus.codecs import InferRequest, Tensor
from isthmus.config import Config
from isthmus.loadtest.chaos_proxy import Chaos, ChaosProxy
from tests.backends.test_probes import probe_each
from tests.conftest import free_port
from tests.integration.peers import kserve_peer, mlserver_peer, ray_peer  # noqa: F401

pytestmark = pytest.mark.peers

X = InferRequest(inputs=(Tensor("input-0", "FP32", np.array([[1.5, -2.0]], dtype=np.float32)),))


def ctx(endpoint: int, timeout: float | None = None) -> CallContext:
    return CallContext("double", "rid-1", endpoint=endpoint, timeout=timeout)


async def started(**doc):
    b = build_backend(Config.model_validate({"backends": [{"name": "b", **doc}]}).backends[0])
    await b.start()
    return b


async def probes(doc: dict, model: str = "double") -> list[bool]:
    return await probe_each(doc, model, timeout=3.0)


async def test_probes_of_a_real_mlserver(mlserver_peer):  # noqa: F811
    dead = f"127.0.0.1:{free_port()}"
    assert await probes({"protocol": "kserve-v2", "endpoints": [mlserver_peer.url, f"http://{dead}"]}) == [True, False]
    grpc_endpoints = [f"grpc://127.0.0.1:{mlserver_peer.grpc_port}", f"grpc://{dead}"]
    assert await probes({"protocol": "kserve-v2-grpc", "endpoints": grpc_endpoints}) == [True, False]
    assert await probes({"protocol": "kserve-v2", "endpoints": [mlserver_peer.url],
                         "health_check": {"path": "/v2/models/{model}/ready"}}) == [True]  # fmt: skip
    assert await probes({"protocol": "kserve-v2", "endpoints": [mlserver_peer.url],
                         "health_check": {"path": "/v2/models/{model}/ready"}}, model="nope") == [False]  # fmt: skip


async def test_probes_of_a_real_kserve_model_server(kserve_peer):  # noqa: F811
    assert await probes({"protocol": "kserve-v2", "endpoints": [kserve_peer.url]}) == [True]
    assert await probes({"protocol": "kserve-v1", "endpoints": [kserve_peer.url]}) == [True]
    assert await probes({"protocol": "kserve-v1", "endpoints": [kserve_peer.url]}, model="nope") == [False]
    assert await probes({"protocol": "kserve-v2-grpc", "endpoints": [f"grpc://127.0.0.1:{kserve_peer.grpc_port}"]}) == [True]


async def test_a_real_mlserver_behind_the_chaos_proxy_over_rest(mlserver_peer):  # noqa: F811
    port = int(mlserver_peer.url.rsplit(":", 1)[1])
    async with ChaosProxy("127.0.0.1", port) as proxy:
        b = await started(protocol="kserve-v2", endpoints=[proxy.url], model="double", timeout="10s")
        try:
            answer = await b.infer(X, ctx(0))
            assert answer.v2_outputs[0]["data"] == [103.0, 96.0]  # x*2 + 100: MLServer computed it

            await proxy.set(Chaos("refuse"))
            with pytest.raises(BackendUnavailable) as err:
                await b.infer(X, ctx(0))
            assert err.value.sent is False

            await proxy.set(Chaos("reset", reset_after=10))
            with pytest.raises(BackendUnavailable) as err:
                await b.infer(X, ctx(0))
            assert err.value.sent is True

            await proxy.set(Chaos("blackhole"))
            await times_out_per_try(b)
        finally:
            await b.close()


async def times_out_per_try(b) -> None:
    """A try with a 0.5 s limit to a silent endpoint ends in a timeout within that limit, not the backend's 10 s."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(BackendTimeout):
        await b.infer(X, ctx(0, timeout=0.5))
    assert loop.time() - start < 1.5


@contextlib.asynccontextmanager
async def v2_grpc(proxy: ChaosProxy):
    """A fresh kserve-v2-grpc backend through ``proxy`` (no reconnect back-off left from a fault before)."""
    b = await started(protocol="kserve-v2-grpc", endpoints=[f"grpc://{proxy.address}"], model="double",
                      timeout="10s", channels=1)  # fmt: skip
    try:
        yield b
    finally:
        await b.close()


async def test_a_real_mlserver_behind_the_chaos_proxy_over_grpc(mlserver_peer):  # noqa: F811
    async with ChaosProxy("127.0.0.1", mlserver_peer.grpc_port, port=free_port(), chaos=Chaos("refuse")) as proxy:
        async with v2_grpc(proxy) as b:
            with pytest.raises(BackendUnavailable) as err:
                await b.infer(X, ctx(0))
            assert (err.value.sent, err.value.grpc_code) == (False, "UNAVAILABLE"), err.value

        await proxy.set(Chaos())
        async with v2_grpc(proxy) as b:
            answer = await b.infer(X, ctx(0))
            assert answer.outputs[0].data.tolist() == [[103.0, 96.0]]  # x*2 + 100: MLServer computed it
            await proxy.set(Chaos("reset"))
            with pytest.raises(BackendUnavailable) as err:
                await b.infer(X, ctx(0))
            assert (err.value.sent, err.value.grpc_code) == (True, "UNAVAILABLE"), err.value

        await proxy.set(Chaos())
        async with v2_grpc(proxy) as b:
            await b.infer(X, ctx(0))
            await proxy.set(Chaos("blackhole"))
            await times_out_per_try(b)


async def test_probes_of_a_real_ray_serve_proxy(ray_peer):  # noqa: F811
    """Serve's HTTP proxy answers ``GET /-/healthz``; a dead endpoint fails."""
    dead = f"http://127.0.0.1:{free_port()}"
    assert await probes({"protocol": "ray-serve", "endpoints": [ray_peer.url, dead]}) == [True, False]
