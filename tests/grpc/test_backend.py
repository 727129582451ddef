"""The kserve-v2-grpc backend, against Isthmus's own gRPC ingress as the V2 gRPC server."""

import asyncio
import time

import numpy as np
import pytest

from isthmus.backends import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable, CallContext
from isthmus.backends.fake import FakeBackend, doubling
from isthmus.backends.grpc_common import grpc_target
from isthmus.backends.kserve_v2_grpc import KServeV2GrpcBackend
from isthmus.codecs import InferRequest, Tensor
from isthmus.config.model import KServeGrpcBackendConfig
from isthmus.deadline import app_deadline
from tests.conftest import free_port
from tests.grpc.conftest import SlowBackend, grpc_config

CTX = CallContext("m", "rid-1")


def x_request(x: np.ndarray, name: str = "input-0") -> InferRequest:
    return InferRequest(inputs=(Tensor(name, "FP32", x.astype(np.float32)),))


@pytest.fixture
async def client():
    made: list[KServeV2GrpcBackend] = []

    async def make(*targets: str, **cfg) -> KServeV2GrpcBackend:
        config = KServeGrpcBackendConfig(name="g", protocol="kserve-v2-grpc",
                                         endpoints=[f"grpc://{t}" for t in targets], **cfg)
        backend = KServeV2GrpcBackend(config)
        await backend.start()
        made.append(backend)
        return backend

    yield make
    for b in made:
        await b.close()


async def upstream(gateway, backend, model: str = "m"):
    routes = [{"model": model, "variants": [{"backend": backend.name, "weight": 1}]}]
    return await gateway(grpc_config([backend.name], routes=routes), backends={backend.name: backend})


def test_endpoints_old_and_new_spellings():
    def endpoints(*given: str) -> list[str]:
        return KServeGrpcBackendConfig(name="g", protocol="kserve-v2-grpc", endpoints=list(given)).endpoints

    assert endpoints("http://h:8081", "https://h", "http://[::1]:9", "grpc://h:1", "grpcs://h:2", "h:3") == [
        "grpc://h:8081", "grpcs://h:443", "grpc://[::1]:9", "grpc://h:1", "grpcs://h:2", "grpc://h:3"]
    assert grpc_target("grpcs://h:443") == ("h:443", True) and grpc_target("grpc://[::1]:9") == ("[::1]:9", False)


async def test_infer_ready_metadata_and_round_robin(gateway, client):
    one, two = FakeBackend("u1", doubling(1)), FakeBackend("u2", doubling(2))
    a, b = await upstream(gateway, one), await upstream(gateway, two)
    backend = await client(a.grpc_target, b.grpc_target, channels=2, version=None)
    answers = []
    for _ in range(8):
        resp = await backend.infer(x_request(np.array([[1.0, 2.0]])), CTX)
        (out,) = resp.outputs
        answers.append(out.data[0, 0] - 2)
    assert sorted(set(answers)) == [1, 2] and answers.count(1) == 4  # round-robin over the endpoints
    assert one.calls[0][1].request_id == "rid-1"  # x-request-id travels as metadata
    assert await backend.ready("m") and not await backend.ready("nope")
    md = await backend.metadata("m")
    assert md["name"] == "m" and md["inputs"][0]["name"] == "input-0"
    assert await backend.metadata("nope") is None


async def test_v1_instances_are_sent_as_a_tensor(gateway, client):
    server = await upstream(gateway, FakeBackend("u", doubling()))
    backend = await client(server.grpc_target)
    resp = await backend.infer(InferRequest(instances=[[1, 2], [3, 4]]), CTX)
    assert resp.outputs[0].data.tolist() == [[2, 4], [6, 8]]


async def test_errors_are_translated(gateway, client):
    backend = await client(f"127.0.0.1:{free_port()}", timeout=2.0)
    with pytest.raises(BackendUnavailable, match="backend 'g' is unavailable: 127.0.0.1:"):
        await backend.infer(x_request(np.ones((1, 1))), CTX)
    assert not await backend.ready("m") and await backend.metadata("m") is None

    server = await upstream(gateway, FakeBackend("u", error=BackendRejected("u", "input-0 must be FP32", 400)))
    backend = await client(server.grpc_target)
    with pytest.raises(BackendRejected, match="input-0 must be FP32") as err:
        await backend.infer(x_request(np.ones((1, 1))), CTX)
    assert err.value.status == 400 and not err.value.fallback_ok
    with pytest.raises(BackendRejected) as err:
        await backend.infer(x_request(np.ones((1, 1))), CallContext("unknown-model", "r"))
    assert err.value.status == 404

    server = await upstream(gateway, FakeBackend("u", error=BackendFailed("u", "HTTP 500: boom")))
    backend = await client(server.grpc_target)
    with pytest.raises(BackendFailed, match="INTERNAL"):
        await backend.infer(x_request(np.ones((1, 1))), CTX)


async def test_timeout_is_the_backend_timeout_or_the_app_deadline(gateway, client):
    server = await upstream(gateway, SlowBackend("u", delay=3.0))
    backend = await client(server.grpc_target, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(BackendTimeout, match="DEADLINE_EXCEEDED"):
        await backend.infer(x_request(np.ones((1, 1))), CTX)
    assert time.monotonic() - t0 < 1.0

    backend = await client(server.grpc_target, timeout=10.0)
    t0 = time.monotonic()
    with app_deadline(0.2), pytest.raises(BackendTimeout):
        await backend.infer(x_request(np.ones((1, 1))), CTX)
    assert time.monotonic() - t0 < 0.8
    with app_deadline(-1.0), pytest.raises(BackendTimeout, match="deadline passed before the call"):
        await backend.infer(x_request(np.ones((1, 1))), CTX)


async def test_many_concurrent_calls_share_the_pool(gateway, client):
    server = await upstream(gateway, FakeBackend("u", doubling()))
    backend = await client(server.grpc_target, channels=3)
    resps = await asyncio.gather(*(backend.infer(x_request(np.full((1, 2), i)), CTX) for i in range(200)))
    assert [r.outputs[0].data[0, 0] for r in resps] == [2.0 * i for i in range(200)]


async def test_not_started_is_unavailable():
    backend = KServeV2GrpcBackend(KServeGrpcBackendConfig(name="g", protocol="kserve-v2-grpc",
                                                          endpoints=["http://127.0.0.1:1"]))
    with pytest.raises(BackendUnavailable, match="not started"):
        await backend.infer(x_request(np.ones((1, 1))), CTX)
    assert not await backend.ready("m")


def test_backend_config_travels_over_xds():
    from isthmus.xds.inverse import config_from_resources
    from isthmus.xds.resources import resources_from_config

    c = grpc_config([{"name": "g", "protocol": "kserve-v2-grpc", "channels": 3, "keepalive_time": "20s",
                      "endpoints": ["http://127.0.0.1:8001", "https://triton.example:8001"]}])
    assert config_from_resources(resources_from_config(c)).backends == c.backends
