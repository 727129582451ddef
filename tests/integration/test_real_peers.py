"""Through the gateway to real model servers: KServe (V1 and V2), MLServer (V2), Ray Serve,
plus the TF Serving REST stand-in and local ONNX Runtime, in one canary.

Each peer computes ``x*2 + offset`` with its own offset, so every answer shows who computed it.
"""

import asyncio
import math
from collections import Counter

import numpy as np
import orjson
import pytest

from tests.conftest import v2_body
from tests.integration.peers import kserve_peer, mlserver_peer, ray_peer, run_peer  # noqa: F401
from tests.servers import tfserving_rest
from tests.waiting import until

pytestmark = pytest.mark.peers

# backend name -> offset its model adds
OFFSETS = {"kserve-v2": 0.0, "kserve-v1": 0.0, "mlserver": 100.0, "ray": 1000.0, "tfs": 10.0, "onnx": 100.0}


@pytest.fixture
async def all_kinds(gateway, serve_app, onnx_models, kserve_peer, mlserver_peer, ray_peer):  # noqa: F811
    tfs_url = await serve_app(tfserving_rest.make_app("double", 10.0))
    backends = [
        {"name": "kserve-v2", "model": "double", "protocol": "kserve-v2", "endpoints": [kserve_peer.url]},
        {"name": "kserve-v1", "model": "double", "protocol": "kserve-v1", "endpoints": [kserve_peer.url]},
        {"name": "mlserver", "model": "double", "protocol": "kserve-v2", "endpoints": [mlserver_peer.url]},
        {"name": "ray", "model": "double", "protocol": "ray-serve", "endpoints": [ray_peer.url]},
        {"name": "tfs", "model": "double", "protocol": "tfserving", "endpoints": [tfs_url]},
        {"name": "onnx", "protocol": "onnx", "model_path": str(onnx_models["double100"])},
    ]
    routes = [
        {"model": "double", "variants": [{"backend": b["name"], "weight": 1} for b in backends],
         "override_header": "x-variant"},
        {"model": "split", "variants": [{"backend": "kserve-v2", "weight": 50}, {"backend": "mlserver", "weight": 30},
                                        {"backend": "ray", "weight": 20}]},
    ]
    return await gateway({"backends": backends, "routes": routes})


@pytest.mark.parametrize("backend", list(OFFSETS))
async def test_v2_answer_from_each_kind_is_what_the_backend_computed(all_kinds, http, backend):
    x = np.array([[0.5, -1.25, 3.0], [4.0, 1e3, -7.5]], dtype=np.float32)
    body = orjson.dumps(v2_body(x.reshape(-1).tolist(), [2, 3]))
    async with http.post(all_kinds.url + "/v2/models/double/infer", data=body, headers={"x-variant": backend}) as r:
        assert r.status == 200, await r.text()
        assert r.headers["x-isthmus-backend"] == backend
        doc = await r.json()
    (out,) = doc["outputs"]
    assert doc["model_name"] == "double"
    assert out["datatype"] == "FP32" and out["shape"] == [2, 3]
    got = np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
    np.testing.assert_array_equal(got, x * 2 + np.float32(OFFSETS[backend]))


@pytest.mark.parametrize("backend", list(OFFSETS))
async def test_v1_answer_from_each_kind(all_kinds, http, backend):
    body = orjson.dumps({"instances": [[1.0, 2.0], [3.0, 4.0]]})
    async with http.post(all_kinds.url + "/v1/models/double:predict", data=body, headers={"x-variant": backend}) as r:
        assert r.status == 200, await r.text()
        doc = await r.json()
    off = OFFSETS[backend]
    assert doc == {"predictions": [[2 + off, 4 + off], [6 + off, 8 + off]]}


async def test_bad_tensor_rejected_by_a_real_backend_is_a_4xx(all_kinds, http):
    body = orjson.dumps(v2_body(["a", "b"], [2], datatype="BYTES"))
    async with http.post(all_kinds.url + "/v2/models/double/infer", data=body, headers={"x-variant": "mlserver"}) as r:
        assert 400 <= r.status < 500, await r.text()
        assert "mlserver" in (await r.json())["error"]


async def test_3_way_split_across_real_servers(all_kinds, http):
    n, weights = 2000, {"kserve-v2": 50, "mlserver": 30, "ray": 20}
    counts: Counter = Counter()
    sem = asyncio.Semaphore(16)
    body = orjson.dumps(v2_body([1.0, 2.0]))

    async def one():
        async with sem, http.post(all_kinds.url + "/v2/models/split/infer", data=body) as r:
            assert r.status == 200
            backend = r.headers["x-isthmus-backend"]
            assert (await r.json())["outputs"][0]["data"] == [2 + OFFSETS[backend], 4 + OFFSETS[backend]]
            counts[backend] += 1

    await asyncio.gather(*(one() for _ in range(n)))
    for name, w in weights.items():
        p = w / 100
        assert abs(counts[name] - n * p) <= 4 * math.sqrt(n * p * (1 - p)), counts


async def test_readiness_and_metadata_from_real_servers(all_kinds, http):
    async with http.get(all_kinds.url + "/v2/models/split/ready") as r:
        assert r.status == 200
    async with http.get(all_kinds.url + "/v2/models/split") as r:
        doc = await r.json()
    assert doc["name"] == "split" and [i["name"] for i in doc["inputs"]] == ["input-0"]
    for backend in ("kserve-v2", "kserve-v1", "mlserver", "ray", "tfs", "onnx"):
        assert await all_kinds.dataplane.state.backends[backend].ready("double"), backend


async def test_fallback_when_a_real_kserve_server_is_killed(gateway, http, onnx_models, tmp_path):
    gen = run_peer("kserve", "double", 0.0, tmp_path)
    peer = next(gen)
    try:
        server = await gateway({
            "backends": [
                {"name": "kserve", "protocol": "kserve-v2", "endpoints": [peer.url], "timeout": "2s"},
                {"name": "onnx", "protocol": "onnx", "model_path": str(onnx_models["double100"])},
            ],
            "routes": [{"model": "double", "variants": [{"backend": "kserve", "weight": 1}], "fallback": "onnx"}],
        })
        body = orjson.dumps(v2_body([1.0]))
        seen: Counter = Counter()

        async def client(stop):
            while not stop.is_set():
                async with http.post(server.url + "/v2/models/double/infer", data=body) as r:
                    assert r.status == 200, await r.text()
                    backend = r.headers["x-isthmus-backend"]
                    assert (await r.json())["outputs"][0]["data"] == [2.0 + {"kserve": 0, "onnx": 100}[backend]]
                    seen[backend] += 1

        stop = asyncio.Event()
        tasks = [asyncio.create_task(client(stop)) for _ in range(8)]
        await until(lambda: seen["kserve"] >= 50, "50 answers from KServe", 30, detail=lambda: f"{seen}")
        peer.kill()
        await until(lambda: seen["onnx"] >= 50, "50 answers from the fallback", 30, detail=lambda: f"{seen}")
        stop.set()
        await asyncio.gather(*tasks)
        assert seen["kserve"] > 0 and seen["onnx"] > 0, seen
    finally:
        gen.close()
