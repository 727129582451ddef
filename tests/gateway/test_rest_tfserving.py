"""TF Serving REST apps through the gateway: to the TF Serving stand-ins (REST and gRPC) and, translated,
to the demo's ONNX route: row and columnar :predict, signature_name, /versions and /labels, metadata,
model status, :classify and :regress (501 on other backend kinds), errors in TF Serving's shape."""

import orjson
import pytest

from tests.servers import tfserving_rest
from tests.servers.tfserving_grpc import Model, start_server

CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


@pytest.fixture
async def grpc_stand_in():
    server, port = await start_server(Model("remote", renames={"x": "y"}))
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
async def tfs(gateway, serve_app, grpc_stand_in, onnx_models):
    """A gateway: ``tfm`` splits 90/10 between versions 1 and 2 of the REST stand-in (version 2 adds
    100); ``g`` is the gRPC stand-in; ``demo`` the ONNX x*2 model (a V2 backend)."""
    app = tfserving_rest.make_app("remote", versions=(1, 2))
    url = await serve_app(app)
    target = grpc_stand_in
    server = await gateway({
        "backends": [
            {"name": "tfs-v1", "protocol": "tfserving", "endpoints": [url], "model": "remote", "version": "1"},
            {"name": "tfs-v2", "protocol": "tfserving", "endpoints": [url], "model": "remote", "version": "2"},
            {"name": "tfs-grpc", "protocol": "tfserving-grpc", "endpoints": [target], "model": "remote"},
            {"name": "onnx", "protocol": "onnx", "model_path": str(onnx_models["double"])},
        ],
        "routes": [
            {"model": "tfm", "variants": [{"backend": "tfs-v1", "weight": 90}, {"backend": "tfs-v2", "weight": 10}]},
            {"model": "g", "variants": [{"backend": "tfs-grpc", "weight": 1}]},
            {"model": "demo", "variants": [{"backend": "onnx", "weight": 1}]},
        ],
    }, random=lambda: 0.0)  # fmt: skip
    server.calls = app[tfserving_rest.CALLS_KEY]  # type: ignore[attr-defined]
    return server


async def call(http, server, method, path, doc=None):
    data = None if doc is None else orjson.dumps(doc)
    async with http.request(method, server.url + path, data=data) as r:
        return r.status, r.headers, orjson.loads(await r.read())


async def test_row_and_columnar_predict(tfs, http):
    status, headers, doc = await call(http, tfs, "POST", "/v1/models/tfm:predict", {"instances": [[1, 2], [3, 4]]})
    assert (status, doc) == (200, {"predictions": [[2, 4], [6, 8]]}) and headers["x-isthmus-backend"] == "tfs-v1"
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm:predict", {"inputs": [[1, 2]]})
    assert (status, doc) == (200, {"outputs": [[2, 4]]})
    # named columnar tensors reach the row-format backend as named rows, come back as named columns
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm:predict", {"inputs": {"a": [[1.5]], "b": [[2]]}})
    assert (status, doc) == (200, {"outputs": {"a": [[3.0]], "b": [[4.0]]}})
    assert tfs.calls[-1][1] == {"instances": [{"a": [1.5], "b": [2]}]}


async def test_signature_name_is_passed_on(tfs, http):
    body = {"signature_name": "times_three", "instances": [[1, 2]]}
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm:predict", body)
    assert (status, doc) == (200, {"predictions": [[3, 6]]})
    assert tfs.calls[-1][1]["signature_name"] == "times_three"
    status, _, doc = await call(http, tfs, "POST", "/v1/models/g:predict", {"signature_name": "times_three", "inputs": {"x": [[1.0]]}})
    assert (status, doc) == (200, {"outputs": [[3.0]]})  # the gRPC stand-in's one output, y
    status, headers, doc = await call(http, tfs, "POST", "/v1/models/tfm:predict", {"signature_name": "nope", "instances": [1]})
    assert status == 400 and 'Serving signature name: "nope" not found' in doc["error"]
    assert headers["x-isthmus-backend"] == "tfs-v1"


async def test_versions_and_labels(tfs, http):
    status, headers, doc = await call(http, tfs, "POST", "/v1/models/tfm/versions/2:predict", {"instances": [1]})
    assert (status, doc, headers["x-isthmus-backend"]) == (200, {"predictions": [102]}, "tfs-v2")
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm/labels/2:predict", {"instances": [1]})
    assert (status, doc) == (200, {"predictions": [102]})  # a label naming a version
    status, headers, doc = await call(http, tfs, "POST", "/v1/models/tfm/labels/tfs-v2:predict", {"instances": [1]})
    assert (status, doc, headers["x-isthmus-backend"]) == (200, {"predictions": [102]}, "tfs-v2")  # a variant
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm/versions/9:predict", {"instances": [1]})
    assert status == 404 and "no version '9'" in doc["error"]
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm/labels/stable:predict", {"instances": [1]})
    assert status == 400 and "no version label 'stable'" in doc["error"]


async def test_metadata(tfs, http):
    status, _, doc = await call(http, tfs, "GET", "/v1/models/tfm/metadata")
    assert status == 200 and doc["model_spec"] == {"name": "tfm", "signature_name": "", "version": "1"}
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    assert sorted(sigs) == sorted(["serving_default", "times_three", CLASSIFY, REGRESS])
    assert sigs["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"
    status, _, doc = await call(http, tfs, "GET", "/v1/models/tfm/versions/2/metadata")
    assert status == 200 and doc["model_spec"]["version"] == "2"
    status, _, doc = await call(http, tfs, "GET", "/v1/models/g/metadata")  # from GetModelMetadata
    assert status == 200 and CLASSIFY in doc["metadata"]["signature_def"]["signature_def"]
    status, _, doc = await call(http, tfs, "GET", "/v1/models/demo/metadata")  # made from the ONNX model's
    sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert status == 200 and sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["input-0"]["dtype"] == "DT_FLOAT" and sig["outputs"]["output-0"]["dtype"] == "DT_FLOAT"
    status, _, doc = await call(http, tfs, "GET", "/v1/models/nope/metadata")
    assert status == 404 and doc == {"error": "unknown model 'nope'"}


async def test_model_status(tfs, http):
    status, _, doc = await call(http, tfs, "GET", "/v1/models/tfm")
    ok = {"error_code": "OK", "error_message": ""}
    assert status == 200 and doc == {"name": "tfm", "ready": True, "model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": ok}, {"version": "2", "state": "AVAILABLE", "status": ok},
    ]}  # fmt: skip
    status, _, doc = await call(http, tfs, "GET", "/v1/models/tfm/versions/2")
    assert status == 200 and [v["version"] for v in doc["model_version_status"]] == ["2"]
    status, _, doc = await call(http, tfs, "GET", "/v1/models/demo")
    assert status == 200 and doc["ready"] and doc["model_version_status"][0]["state"] == "AVAILABLE"
    status, _, doc = await call(http, tfs, "GET", "/v1/models/tfm/versions/7")
    assert status == 404 and "no version '7'" in doc["error"]


async def test_classify_and_regress(tfs, http):
    body = {"signature_name": CLASSIFY, "examples": [{"x": 1.5}, {"x": 2}]}
    status, headers, doc = await call(http, tfs, "POST", "/v1/models/tfm:classify", body)
    assert status == 200 and headers["x-isthmus-backend"] == "tfs-v1"
    assert doc == {"results": [[["double", 3.0], ["", 1.5]], [["double", 4.0], ["", 2.0]]]}
    assert tfs.calls[-1] == ("/v1/models/remote/versions/1:classify", {"signature_name": CLASSIFY, "examples": [{"x": [1.5]}, {"x": [2]}]})
    body = {"signature_name": REGRESS, "context": {"x": 1.0}, "examples": [{}]}
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm/versions/2:regress", body)
    assert (status, doc) == (200, {"results": [102.0]})
    status, _, doc = await call(http, tfs, "POST", "/v1/models/g:regress", {"signature_name": REGRESS, "examples": [{"x": 4.0}]})
    assert (status, doc) == (200, {"results": [8.0]})  # Regress over gRPC
    status, _, doc = await call(http, tfs, "POST", "/v1/models/tfm:classify", {"examples": [{"x": 1.0}]})
    assert status == 400 and "Expected classification signature method_name" in doc["error"]  # the backend's own


async def test_classify_on_other_backend_kinds_is_501(tfs, http):
    status, headers, doc = await call(http, tfs, "POST", "/v1/models/demo:classify", {"examples": [{"x": 1.0}]})
    assert status == 501 and headers["x-isthmus-backend"] == "onnx"
    assert "classify is a TensorFlow Serving call" in doc["error"]
    status, _, doc = await call(http, tfs, "POST", "/v1/models/demo:regress", {"examples": "no"})
    assert status == 400 and "non-empty 'examples'" in doc["error"]


async def test_onnx_route_translated(tfs, http):
    status, _, doc = await call(http, tfs, "POST", "/v1/models/demo:predict", {"instances": [[1, 2, 3, 4]]})
    assert (status, doc) == (200, {"predictions": [[2, 4, 6, 8]]})
    status, _, doc = await call(http, tfs, "POST", "/v1/models/demo:predict", {"inputs": [[1, 2, 3, 4]]})
    assert (status, doc) == (200, {"outputs": [[2, 4, 6, 8]]})
    status, _, doc = await call(http, tfs, "POST", "/v1/models/demo:predict", {"inputs": {"input-0": [[0.5, 1, 2, 3]]}})
    assert (status, doc) == (200, {"outputs": [[1, 2, 4, 6]]})
    status, _, doc = await call(http, tfs, "POST", "/v1/models/demo:predict", {"instances": [1], "inputs": [1]})
    assert status == 400 and "not both" in doc["error"]


async def test_named_rows_to_a_tensor_backend(tfs, http):
    body = {"instances": [{"x": [1.0]}, {"x": [2.0]}]}  # TF Serving's row format with a named input
    status, _, doc = await call(http, tfs, "POST", "/v1/models/g:predict", body)
    assert (status, doc) == (200, {"predictions": [[2.0], [4.0]]})
    status, _, doc = await call(http, tfs, "POST", "/v1/models/g:predict", {"instances": [{"x": 1.0}, {"y": 2.0}]})
    assert status == 400 and "differing keys" in doc["error"]


async def test_v2_metadata_of_tf_serving_backends_is_their_signature(tfs, http):
    for model in ("tfm", "g"):  # from REST GET .../metadata and from gRPC GetModelMetadata
        status, _, doc = await call(http, tfs, "GET", f"/v2/models/{model}")
        assert status == 200 and doc["platform"] == "tensorflow_savedmodel"
        assert doc["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}]
        assert doc["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, -1]}]
