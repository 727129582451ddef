"""Seed 000's Ray Serve deployment on real Ray Serve, through the gateway over V2 REST, V1 REST and
V2 gRPC, with a request/response mapping; and backends' error bodies in the app's 502 (real Ray
Serve's 500, real KServe's 501).

The deployment is the article's ``LargeModelDeployment`` (tests/peers/ray/seed000_deployment.py:
``{"input": [...]}`` -> ``{"output": [...]}``, numpy doing the model's arithmetic in place of
torch, ``x * 2 + offset`` in FP32). One Ray cluster serves it next to the peers' V1-style affine
deployment, so both Ray dialects are exercised on one cluster.
"""

from __future__ import annotations

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.grpc.aio as tca
from tritonclient.utils import InferenceServerException

from tests.conftest import v2_body
from tests.integration.peers import kserve_peer, peers_dir  # noqa: F401
from tests.peers.affine_model import affine
from tests.peers.launcher import Peer, start_peer
from tests.waiting import until

pytestmark = pytest.mark.peers

SEED_OFFSET, AFFINE_OFFSET = 1.5, 1000.0
X = np.array([[0.5, -1.25, 3.0], [4.0, 1e3, -7.5]], dtype=np.float32)
SEED_MAPPING = {"request": {"inputs": {"input-0": "/input"}}, "response": {"outputs": {"output-0": "/output"}}}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory) -> Peer:
    """One Ray cluster, two applications: seed 000's deployment at /seed, the affine one at /double."""
    peer = start_peer(
        "ray", peers_dir() / "ray", "seed", SEED_OFFSET, timeout=240, extra_models=[("double", AFFINE_OFFSET)],
        deployments={"seed": "seed000"}, log_dir=tmp_path_factory.mktemp("ray-seed000"),
    )  # fmt: skip
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
async def gw(gateway, ray_cluster, kserve_peer):  # noqa: F811
    backends = [
        {"name": "seed", "protocol": "ray-serve", "endpoints": [ray_cluster.url], "route_prefix": "/seed",
         **SEED_MAPPING},
        # the same deployment without a mapping: sent {"instances": ...}, which it cannot handle
        {"name": "seed-unmapped", "protocol": "ray-serve", "endpoints": [ray_cluster.url], "model": "seed"},
        {"name": "ray-v1", "protocol": "ray-serve", "endpoints": [ray_cluster.url], "model": "double"},
        # KServe's :explain of the peer model, whose explainer fails on ["crash"] (a 500)
        {"name": "kserve-explain", "protocol": "http-json", "endpoints": [kserve_peer.url],
         "path": "/v1/models/{model}:explain", "model": "double"},
    ]
    routes = [
        {"model": "seed", "variants": [{"backend": "seed", "weight": 1}]},
        {"model": "seed-default", "variants": [{"backend": "seed-unmapped", "weight": 1}]},
        {"model": "both", "variants": [{"backend": "seed", "weight": 1}, {"backend": "ray-v1", "weight": 1}],
         "override_header": "x-variant"},
        {"model": "explain", "variants": [{"backend": "kserve-explain", "weight": 1}]},
    ]
    return await gateway({"listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
                          "backends": backends, "routes": routes})


def _logged_error(peer: Peer, rid: str) -> bool:
    """Ray's replica log lines reach the peer's log (log_to_driver); one names ``rid`` with the 500."""
    lines = peer.log_path.read_text(errors="replace").splitlines()
    return any(rid in line and "500" in line for line in lines)


def expected(x: np.ndarray, offset: float) -> list:
    return [[affine(float(v), offset) for v in row] for row in x.tolist()]


async def test_v2_rest_through_the_mapping(gw, http):
    body = orjson.dumps(v2_body(X.reshape(-1).tolist(), [2, 3]))
    async with http.post(gw.url + "/v2/models/seed/infer", data=body) as r:
        assert r.status == 200, await r.text()
        assert r.headers["x-isthmus-backend"] == "seed"
        doc = await r.json()
    (out,) = doc["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("output-0", "FP32", [2, 3])
    assert np.asarray(out["data"]).reshape(2, 3).tolist() == expected(X, SEED_OFFSET)


async def test_v1_rest_through_the_mapping(gw, http):
    body = orjson.dumps({"instances": [[1.0, 2.0], [3.0, 0.1]]})
    async with http.post(gw.url + "/v1/models/seed:predict", data=body) as r:
        assert r.status == 200, await r.text()
        doc = await r.json()
    assert doc == {"predictions": expected(np.array([[1.0, 2.0], [3.0, 0.1]]), SEED_OFFSET)}


async def test_v2_grpc_through_the_mapping(gw):
    client = tca.InferenceServerClient(gw.grpc_target)
    try:
        inp = tca.InferInput("input-0", list(X.shape), "FP32")
        inp.set_data_from_numpy(X)
        result = await client.infer("seed", [inp])
    finally:
        await client.close()
    got = result.as_numpy("output-0")
    assert got.dtype == np.float32 and got.tolist() == expected(X, SEED_OFFSET)


async def test_both_ray_dialects_answer_from_one_cluster(gw, http):
    body = orjson.dumps(v2_body([1.0, 2.0], [1, 2]))
    for variant, offset in (("seed", SEED_OFFSET), ("ray-v1", AFFINE_OFFSET)):
        async with http.post(gw.url + "/v2/models/both/infer", data=body, headers={"x-variant": variant}) as r:
            assert r.status == 200, await r.text()
            assert r.headers["x-isthmus-backend"] == variant
            assert (await r.json())["outputs"][0]["data"] == [affine(1.0, offset), affine(2.0, offset)]


async def test_an_input_name_the_mapping_lacks_is_a_400_naming_the_inputs(gw, http):
    body = orjson.dumps(v2_body([1.0], name="../../etc/passwd"))
    async with http.post(gw.url + "/v2/models/seed/infer", data=body) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "unknown input '../../etc/passwd': this model takes 'input-0'"
    client = tca.InferenceServerClient(gw.grpc_target)
    try:
        inp = tca.InferInput("x", [1], "FP32")
        inp.set_data_from_numpy(np.array([1.0], np.float32))
        with pytest.raises(InferenceServerException) as err:
            await client.infer("seed", [inp])
    finally:
        await client.close()
    assert err.value.status() == str(grpc.StatusCode.INVALID_ARGUMENT)
    assert "unknown input 'x': this model takes 'input-0'" in err.value.message()


async def test_a_request_the_deployment_cannot_handle_is_a_502_naming_ray_and_its_500(gw, http, ray_cluster):
    # ragged rows pass the V1 ingress (free-form instances) and make the deployment raise
    body = orjson.dumps({"instances": [[1.0], [2.0, 3.0]]})
    async with http.post(gw.url + "/v1/models/seed:predict", data=body) as r:
        assert r.status == 502
        assert r.headers["x-isthmus-backend"] == "seed"
        error = (await r.json())["error"]
        rid = r.headers["x-request-id"]
    # Ray Serve answers an uncaught exception with a bare "Internal Server Error"; it logs the
    # traceback under the request id the gateway sent it, which the 502 names
    assert error == (
        f"backend 'seed' failed: HTTP 500: Internal Server Error (Ray Serve logs the deployment's error under request id {rid})"
    )
    await until(lambda: _logged_error(ray_cluster, rid), "Ray's log names the request id with the error", 60,
                interval=0.2)


async def test_the_unmapped_deployment_fails_and_the_502_says_so_over_rest_and_grpc(gw, http):
    body = orjson.dumps(v2_body([1.0]))
    async with http.post(gw.url + "/v2/models/seed-default/infer", data=body) as r:
        assert r.status == 502
        assert (await r.json())["error"].startswith("backend 'seed-unmapped' failed: HTTP 500: Internal Server Error (")
    client = tca.InferenceServerClient(gw.grpc_target)
    try:
        inp = tca.InferInput("input-0", [1], "FP32")
        inp.set_data_from_numpy(np.array([1.0], np.float32))
        with pytest.raises(InferenceServerException) as err:
            await client.infer("seed-default", [inp])
    finally:
        await client.close()
    assert err.value.status() == str(grpc.StatusCode.INTERNAL)
    assert "backend 'seed-unmapped' failed: HTTP 500: Internal Server Error" in err.value.message()


async def test_a_real_kserve_5xx_error_body_is_in_the_502(gw, http):
    # the peer's explainer raises on ["crash"]: KServe answers its own 500 {"error": ...}
    async with http.post(gw.url + "/v1/models/explain:predict", data=orjson.dumps({"instances": ["crash"]})) as r:
        assert r.status == 502
        assert r.headers["x-isthmus-backend"] == "kserve-explain"
        error = (await r.json())["error"]
    assert error.startswith("backend 'kserve-explain' failed: HTTP 500: "), error
    assert "the explainer has nothing to explain" in error, error
