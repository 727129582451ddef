"""The extensions through the gateway to real model servers: `:explain` passed to the real KServe
(and 501 for MLServer), model config / repository index / statistics with tritonclient's aio clients
(gRPC and HTTP) over KServe and MLServer routes, gRPC health with the library client, and the
kserve package's own REST and gRPC clients (run in the kserve peer venv) through the gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.grpc.aio as tga
import tritonclient.http.aio as tha
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import free_port
from tests.integration.peers import kserve_peer, mlserver_peer, peers_dir  # noqa: F401

pytestmark = pytest.mark.peers

CLIENTS = Path(__file__).resolve().parents[1] / "peers" / "kserve" / "clients.py"
X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)


@pytest.fixture
async def gw(gateway, kserve_peer, mlserver_peer):  # noqa: F811
    backends = [
        {"name": "kserve-v1", "protocol": "kserve-v1", "endpoints": [kserve_peer.url], "model": "double"},
        {"name": "kserve-v2", "protocol": "kserve-v2", "endpoints": [kserve_peer.url], "model": "double"},
        {"name": "mlserver", "protocol": "kserve-v2", "endpoints": [mlserver_peer.url], "model": "double"},
        {"name": "gone", "protocol": "kserve-v2", "endpoints": [f"http://127.0.0.1:{free_port()}"], "timeout": "1s"},
    ]
    routes = [
        # versions on the route's variants (a backend's own version would be sent to the server in its paths)
        {"model": "double", "variants": [{"backend": "kserve-v2", "weight": 1, "version": "1"},
                                         {"backend": "mlserver", "weight": 1, "version": "2"}],
         "override_header": "x-variant"},
        {"model": "explained", "variants": [{"backend": "kserve-v1", "weight": 1}, {"backend": "mlserver", "weight": 0}],
         "override_header": "x-variant"},
        {"model": "gone", "variants": [{"backend": "gone", "weight": 1}]},
    ]
    return await gateway({"listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
                          "backends": backends, "routes": routes})


async def test_explain_is_passed_to_kserve_and_501_elsewhere(gw, http):
    url = gw.url + "/v1/models/explained:explain"
    async with http.post(url, data=orjson.dumps({"instances": X.tolist()})) as r:
        assert r.status == 200, await r.text()
        assert (r.headers["x-isthmus-backend"], r.headers["x-isthmus-cache"]) == ("kserve-v1", "bypass")
        doc = await r.json()
    assert doc == {"explanations": (X * 2).tolist(), "offset": 0.0, "explainer": "affine"}  # KServe's model answered
    async with http.post(url, data=orjson.dumps({"instances": ["a"]})) as r:  # refused by KServe: the app's fault
        assert r.status == 400 and "kserve-v1" in (await r.json())["error"]
    async with http.post(url, data=b'{"instances": [[1]]}', headers={"x-variant": "mlserver"}) as r:
        assert r.status == 501 and r.headers["x-isthmus-backend"] == "mlserver"
        assert "protocol 'kserve-v2'" in (await r.json())["error"]


async def test_config_index_and_statistics_with_tritonclient_aio(gw):
    grpc_client, http_client = tga.InferenceServerClient(gw.grpc_target), tha.InferenceServerClient(gw.url[7:])
    try:
        config = (await grpc_client.get_model_config("double")).config
        assert (config.name, config.backend, list(config.version_policy.specific.versions)) == (
            "double", "kserve-v2", [1, 2])
        assert [(t.name, list(t.dims)) for t in config.input] == [("input-0", [-1, -1])]  # from KServe's metadata
        doc = await http_client.get_model_config("double", "2")  # MLServer's variant
        assert doc["input"][0]["data_type"] == "TYPE_FP32" and doc["output"][0]["name"] == "output-0"

        index = await http_client.get_model_repository_index()
        states = {(m["name"], m["version"]): m["state"] for m in index}
        assert states == {("double", "1"): "READY", ("double", "2"): "READY", ("explained", ""): "READY",
                          ("gone", ""): "UNAVAILABLE"}
        ready = (await grpc_client.get_model_repository_index()).models
        assert sum(m.state == "READY" for m in ready) == 3

        before = (await grpc_client.get_inference_statistics("double", "2")).model_stats[0].inference_count
        inp = tga.InferInput("input-0", [2, 3], "FP32")
        inp.set_data_from_numpy(X)
        for _ in range(5):
            result = await grpc_client.infer("double", [inp], headers={"x-variant": "mlserver"})
            np.testing.assert_array_equal(result.as_numpy("output-0"), X * 2 + 100)  # MLServer computed it
        v2 = (await http_client.get_inference_statistics("double", "2"))["model_stats"][0]
        v1 = (await http_client.get_inference_statistics("double", "1"))["model_stats"][0]
        assert v2["inference_count"] - before == 5 and v2["execution_count"] == v2["inference_count"]  # no cache
        assert v1["inference_count"] == 0 and v2["inference_stats"]["success"]["ns"] > 0
    finally:
        await grpc_client.close()
        await http_client.close()


async def test_health_per_model_over_real_backends(gw):
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def check(service):
            return (await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)).status

        assert await check("") == health_pb2.HealthCheckResponse.SERVING
        assert await check("double") == health_pb2.HealthCheckResponse.SERVING
        assert await check("gone") == health_pb2.HealthCheckResponse.NOT_SERVING  # its only backend is down


async def test_the_kserve_packages_clients_through_the_gateway(gw):
    python = peers_dir() / "kserve" / "bin" / "python"
    assert python.exists(), f"{python} missing: make peers"
    proc = await asyncio.create_subprocess_exec(
        str(python), str(CLIENTS), "--rest", gw.url, "--grpc", gw.grpc_target, "--model", "double",
        "--explain-model", "explained", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-3000:]
    doc = json.loads(out.decode().strip().splitlines()[-1])
    expected = (X * 2).tolist()
    assert doc["v1_live"] is True and doc["v1_model_ready"] is True
    assert doc["v1_predict"]["predictions"] in (expected, (X * 2 + 100).tolist()), doc  # KServe or MLServer
    assert doc["v1_explain"]["explanations"] == expected, doc
    assert (doc["v2_live"], doc["v2_ready"], doc["v2_model_ready"]) == (True, True, True), doc
    assert doc["v2_infer"] in (expected, (X * 2 + 100).tolist()), doc
    assert doc["v2_infer_defaults"] in (expected, (X * 2 + 100).tolist()), doc  # binary tensor data both ways
    assert (doc["grpc_live"], doc["grpc_ready"], doc["grpc_model_ready"]) == (True, True, True), doc
    assert doc["grpc_infer"] in (expected, (X * 2 + 100).tolist()), doc
