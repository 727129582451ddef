"""Through the running gateway: V2 and V1 REST to a tfserving-grpc backend, and a canary split
across tfserving-grpc and the TF Serving REST stand-in answering identical tensors."""

import itertools

import numpy as np
import orjson

from tests.conftest import v2_body
from tests.servers import tfserving_rest
from tests.servers.tfserving_grpc import Model


async def post(http, server, path, doc, headers=None):
    async with http.post(server.url + path, data=orjson.dumps(doc), headers=headers) as r:
        return r.status, r.headers, await r.json(content_type=None)


async def test_v2_rest_to_tfserving_grpc(gateway, http, tfs_grpc):
    model = Model("fraud-remote", offset=0.25, versions=(1, 2))
    target = await tfs_grpc(model)
    server = await gateway({
        "backends": [{"name": "tfs", "protocol": "tfserving-grpc", "endpoints": [target], "model": "fraud-remote",
                      "version": "1", "signature_name": "serving_default"}],
        "routes": [{"model": "fraud", "variants": [{"backend": "tfs", "weight": 1}]}],
    })  # fmt: skip
    body = {"inputs": [
        {"name": "amount", "datatype": "FP64", "shape": [2, 2], "data": [1.5, 2, 3, 4]},
        {"name": "count", "datatype": "INT32", "shape": [2], "data": [7, -3]},
    ]}  # fmt: skip
    status, headers, doc = await post(http, server, "/v2/models/fraud/infer", body)
    assert status == 200 and headers["x-isthmus-backend"] == "tfs"
    got = {o["name"]: (o["datatype"], o["shape"], o["data"]) for o in doc["outputs"]}
    # exactly what the server computed: x*2 + 0.25 in each input's dtype (INT32: 0.25 -> 0)
    assert got == {"amount": ("FP64", [2, 2], [3.25, 4.25, 6.25, 8.25]), "count": ("INT32", [2], [14, -6])}
    assert model.calls[0].model_spec.version.value == 1

    status, _, doc = await post(http, server, "/v1/models/fraud:predict", {"instances": [[1, 2]]})
    assert status == 200 and doc == {"predictions": [[2.25, 4.25]]}

    async with http.get(server.url + "/v2/models/fraud/ready") as r:
        assert r.status == 200


async def test_tfserving_grpc_errors_through_the_gateway(gateway, http, tfs_grpc):
    target = await tfs_grpc(Model("m"))
    server = await gateway({
        "backends": [{"name": "tfs", "protocol": "tfserving-grpc", "endpoints": [target], "model": "gone"}],
        "routes": [{"model": "m", "variants": [{"backend": "tfs", "weight": 1}]}],
    })  # fmt: skip
    status, headers, doc = await post(http, server, "/v2/models/m/infer", v2_body([1]))
    assert status == 404 and headers["x-isthmus-backend"] == "tfs"
    assert "Servable not found for request: Latest(gone)" in doc["error"]
    async with http.get(server.url + "/v2/models/m/ready") as r:
        assert r.status == 503


async def test_canary_across_grpc_and_rest_answers_identical_tensors(gateway, http, tfs_grpc, serve_app):
    grpc_model = Model("m", offset=100, renames={"input-0": "output-0"})
    grpc_target = await tfs_grpc(grpc_model)
    rest_url = await serve_app(tfserving_rest.make_app("m", offset=100))
    picks = itertools.cycle([0.1, 0.9])
    server = await gateway({
        "backends": [
            {"name": "via-grpc", "protocol": "tfserving-grpc", "endpoints": [grpc_target]},
            {"name": "via-rest", "protocol": "tfserving", "endpoints": [rest_url], "format": "columnar"},
        ],
        "routes": [{"model": "m", "variants": [{"backend": "via-grpc", "weight": 50},
                                               {"backend": "via-rest", "weight": 50}]}],
    }, random=lambda: next(picks))  # fmt: skip
    data = np.random.default_rng(7).standard_normal(12).astype(np.float32).tolist()
    answers = {}
    for _ in range(4):
        status, headers, doc = await post(http, server, "/v2/models/m/infer", v2_body(data, [3, 4]))
        assert status == 200
        answers.setdefault(headers["x-isthmus-backend"], []).append(doc["outputs"])
    assert sorted(answers) == ["via-grpc", "via-rest"] and len(grpc_model.calls) == 2
    first = answers["via-grpc"][0]
    assert all(outputs == first for group in answers.values() for outputs in group)
    assert first[0]["name"] == "output-0" and first[0]["datatype"] == "FP32" and first[0]["shape"] == [3, 4]
    assert first[0]["data"] == (np.float32(data) * 2 + 100).tolist()
