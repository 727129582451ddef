"""gRPC through the gateway to real model servers: KServe ModelServer and MLServer over V2 gRPC,
the real tritonclient gRPC client against the ingress, and translation between gRPC and REST.

Each peer computes ``x*2 + offset`` (KServe 0, MLServer 100), so every answer shows who computed it.
"""

import asyncio
import time

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.grpc as tc
import tritonclient.grpc.aio as tca
from tritonclient.utils import InferenceServerException

from tests.conftest import v2_body
from tests.integration.peers import kserve_peer, mlserver_peer, run_peer  # noqa: F401

pytestmark = pytest.mark.peers

OFFSETS = {"kserve-grpc": 0.0, "kserve-rest": 0.0, "mlserver-grpc": 100.0, "mlserver-rest": 100.0}


@pytest.fixture
async def gw(gateway, kserve_peer, mlserver_peer):  # noqa: F811
    backends = [
        {"name": "kserve-grpc", "protocol": "kserve-v2-grpc", "endpoints": [f"http://127.0.0.1:{kserve_peer.grpc_port}"],
         "model": "double"},
        {"name": "mlserver-grpc", "protocol": "kserve-v2-grpc",
         "endpoints": [f"http://127.0.0.1:{mlserver_peer.grpc_port}"], "model": "double", "version": None},
        {"name": "kserve-rest", "protocol": "kserve-v2", "endpoints": [kserve_peer.url], "model": "double"},
        {"name": "mlserver-rest", "protocol": "kserve-v2", "endpoints": [mlserver_peer.url], "model": "double"},
    ]
    routes = [
        {"model": "double", "variants": [{"backend": b["name"], "weight": 1} for b in backends],
         "override_header": "x-variant"},
        # one model, half over gRPC and half over REST, to the same KServe server
        {"model": "canary", "variants": [{"backend": "kserve-grpc", "weight": 1},
                                         {"backend": "kserve-rest", "weight": 1}]},
    ]
    return await gateway({"listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
                          "backends": backends, "routes": routes})


X = np.array([[0.5, -1.25, 3.0], [4.0, 1e3, -7.5]], dtype=np.float32)


def triton_input(x: np.ndarray = X, name: str = "input-0", datatype: str = "FP32") -> tc.InferInput:
    inp = tc.InferInput(name, list(x.shape), datatype)
    inp.set_data_from_numpy(x)
    return inp


@pytest.mark.parametrize("backend", list(OFFSETS))
async def test_grpc_ingress_to_each_backend_answers_what_the_peer_computed(gw, backend):
    client = tca.InferenceServerClient(gw.grpc_target)
    try:
        result = await client.infer("double", [triton_input()], headers={"x-variant": backend})
    finally:
        await client.close()
    np.testing.assert_array_equal(result.as_numpy("output-0"), X * 2 + np.float32(OFFSETS[backend]))
    assert result.get_response().model_name == "double"


@pytest.mark.parametrize("backend", ["kserve-grpc", "mlserver-grpc"])
async def test_rest_ingress_to_grpc_backend(gw, http, backend):
    body = orjson.dumps(v2_body(X.reshape(-1).tolist(), [2, 3]))
    async with http.post(gw.url + "/v2/models/double/infer", data=body, headers={"x-variant": backend}) as r:
        assert r.status == 200, await r.text()
        assert r.headers["x-isthmus-backend"] == backend
        doc = await r.json()
    (out,) = doc["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("output-0", "FP32", [2, 3])
    assert "parameters" not in out  # KServe's binary_data_size stays on the gRPC side
    got = np.asarray(out["data"], dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(got, X * 2 + np.float32(OFFSETS[backend]))


async def test_v1_rest_ingress_to_grpc_backend(gw, http):
    body = orjson.dumps({"instances": [[1.0, 2.0], [3.0, 4.0]]})
    async with http.post(gw.url + "/v1/models/double:predict", data=body, headers={"x-variant": "mlserver-grpc"}) as r:
        assert r.status == 200, await r.text()
        assert await r.json() == {"predictions": [[102.0, 104.0], [106.0, 108.0]]}


async def test_real_tritonclient_sync_client_against_the_ingress(gw):
    def session() -> tuple:
        client = tc.InferenceServerClient(gw.grpc_target)
        try:
            live, ready = client.is_server_live(), client.is_server_ready()
            model_ready = client.is_model_ready("double")
            md = client.get_model_metadata("double", as_json=True)
            result = client.infer("double", [triton_input()], headers={"x-variant": "mlserver-grpc"},
                                  outputs=[tc.InferRequestedOutput("output-0")], request_id="tc-1")
            try:
                client.is_model_ready("no-such-model")
                missing = None
            except InferenceServerException as exc:
                missing = exc.status()
            return live, ready, model_ready, md, result, missing, client.get_server_metadata(as_json=True)
        finally:
            client.close()

    live, ready, model_ready, md, result, missing, server_md = await asyncio.to_thread(session)
    assert live and ready and model_ready
    assert md["name"] == "double"
    assert [(t["name"], t["datatype"]) for t in md["inputs"]] == [("input-0", "FP32")]
    np.testing.assert_array_equal(result.as_numpy("output-0"), X * 2 + np.float32(100))
    assert result.get_response().id == "tc-1"
    assert missing == "StatusCode.NOT_FOUND"
    assert server_md["name"] == "isthmus"


async def test_canary_across_a_grpc_and_a_rest_backend_answers_identical_tensors(gw, http):
    rng = np.random.default_rng(7)
    x = rng.uniform(-1e3, 1e3, size=(4, 5)).astype(np.float32)
    seen: dict[str, set[bytes]] = {"kserve-grpc": set(), "kserve-rest": set()}
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        from tritonclient.grpc import service_pb2_grpc

        from isthmus.codecs import InferRequest, Tensor
        from isthmus.codecs import v2_grpc as codec

        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        req = codec.encode_request(InferRequest(), (Tensor("input-0", "FP32", x),), "canary")
        for _ in range(30):
            call = stub.ModelInfer(req)
            reply = await call
            backend = dict(await call.initial_metadata())["x-isthmus-backend"]
            seen[backend].add(codec.decode_response(reply, "gw").outputs[0].data.tobytes())
    body = orjson.dumps(v2_body(x.reshape(-1).tolist(), [4, 5]))
    for _ in range(30):
        async with http.post(gw.url + "/v2/models/canary/infer", data=body) as r:
            out = (await r.json())["outputs"][0]
            seen[r.headers["x-isthmus-backend"]].add(np.asarray(out["data"], np.float32).reshape(4, 5).tobytes())
    assert all(seen.values()), seen  # both variants answered, over both ingresses
    answers = set().union(*seen.values())
    assert answers == {(x * 2).tobytes()}  # and every answer is the same tensor, bit for bit


async def test_bad_input_is_invalid_argument_naming_the_problem(gw):
    client = tca.InferenceServerClient(gw.grpc_target)
    try:
        # rejected by the real MLServer: its message, the backend named
        with pytest.raises(InferenceServerException) as err:
            await client.infer("double", [triton_input(np.array([[1, 2]], np.int32), datatype="INT32")],
                               headers={"x-variant": "mlserver-grpc"})
        assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "backend 'mlserver-grpc' rejected the request" in err.value.message()
        assert "input-0 must be FP32" in err.value.message()
        # refused by the gateway itself
        bad = tc.InferInput("input-0", [2, 2], "FP32")
        bad.set_data_from_numpy(np.ones((2, 2), np.float32))
        bad._raw_content = bad._raw_content[:-1]
        with pytest.raises(InferenceServerException) as err:
            await client.infer("double", [bad])
        assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "inputs[0] ('input-0'): raw data has 15 bytes but shape [2, 2] of FP32 needs 16" in err.value.message()
    finally:
        await client.close()


async def test_a_dead_backend_is_unavailable_naming_it(gateway, tmp_path):
    gen = run_peer("kserve", "double", 0.0, tmp_path)
    peer = next(gen)
    try:
        server = await gateway({
            "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
            "backends": [{"name": "kserve-g", "protocol": "kserve-v2-grpc", "timeout": "2s",
                          "endpoints": [f"http://127.0.0.1:{peer.grpc_port}"]}],
            "routes": [{"model": "double", "variants": [{"backend": "kserve-g", "weight": 1}]}],
        })
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            from tritonclient.grpc import service_pb2_grpc

            from isthmus.codecs import InferRequest, Tensor
            from isthmus.codecs import v2_grpc as codec

            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            req = codec.encode_request(InferRequest(), (Tensor("input-0", "FP32", X),), "double")
            assert codec.decode_response(await stub.ModelInfer(req), "gw").outputs[0].data.tolist() == (X * 2).tolist()
            peer.kill()
            t0 = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.ModelInfer(req)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "backend 'kserve-g' is unavailable" in err.value.details()
            assert dict(err.value.trailing_metadata())["x-isthmus-backend"] == "kserve-g"
            assert time.monotonic() - t0 < 2.5
            assert not (await stub.ModelReady(codec.pb.ModelReadyRequest(name="double"))).ready
    finally:
        gen.close()
