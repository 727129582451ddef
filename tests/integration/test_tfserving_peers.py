"""TF Serving apps (REST and gRPC) through the gateway to a real KServe server (V2 REST, V2 gRPC and
V1): the TF Serving dialect translated to KServe's and back. The peer computes ``x*2``."""

import grpc
import numpy as np
import orjson
import pytest

from isthmus.codecs import Tensor
from isthmus.codecs.tensorproto import decode_tensor, encode_tensor
from isthmus.protos.tfserving.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tests.integration.peers import kserve_peer  # noqa: F401

pytestmark = pytest.mark.peers


@pytest.fixture
async def gw(gateway, kserve_peer):  # noqa: F811
    return await gateway({
        "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
        "backends": [
            {"name": "kserve-v2", "protocol": "kserve-v2", "endpoints": [kserve_peer.url], "model": "double"},
            {"name": "kserve-grpc", "protocol": "kserve-v2-grpc", "model": "double",
             "endpoints": [f"http://127.0.0.1:{kserve_peer.grpc_port}"]},
            {"name": "kserve-v1", "protocol": "kserve-v1", "endpoints": [kserve_peer.url], "model": "double"},
        ],
        "routes": [
            {"model": "rest", "variants": [{"backend": "kserve-v2", "weight": 1}]},
            {"model": "grpc", "variants": [{"backend": "kserve-grpc", "weight": 1}]},
            {"model": "v1", "variants": [{"backend": "kserve-v1", "weight": 1}]},
        ],
    })  # fmt: skip


async def call(http, gw, method, path, doc=None):
    async with http.request(method, gw.url + path, data=None if doc is None else orjson.dumps(doc)) as r:
        return r.status, orjson.loads(await r.read())


@pytest.mark.parametrize("model", ["rest", "grpc", "v1"])
async def test_tf_serving_rest_predict_to_kserve(gw, http, model):
    body = {"signature_name": "serving_default", "instances": [[1.0, 2.0], [3.0, 4.0]]}
    assert await call(http, gw, "POST", f"/v1/models/{model}:predict", body) == (200, {"predictions": [[2, 4], [6, 8]]})
    assert await call(http, gw, "POST", f"/v1/models/{model}:predict", {"inputs": [[0.5, 1.5]]}) == (
        200, {"outputs": [[1, 3]]},
    )  # fmt: skip


@pytest.mark.parametrize("model", ["rest", "grpc"])
async def test_named_columnar_inputs_to_kserve_v2(gw, http, model):
    status, doc = await call(http, gw, "POST", f"/v1/models/{model}:predict", {"inputs": {"input-0": [[1.5, -2.0]]}})
    assert (status, doc) == (200, {"outputs": [[3, -4]]})
    body = {"instances": [{"input-0": [1.0, 2.0]}, {"input-0": [3.0, 4.0]}]}  # named rows
    assert await call(http, gw, "POST", f"/v1/models/{model}:predict", body) == (200, {"predictions": [[2, 4], [6, 8]]})
    status, doc = await call(http, gw, "POST", f"/v1/models/{model}:predict", {"inputs": {"wrong": [[1.5]]}})
    assert status == 400 and "kserve" in doc["error"]  # KServe's own refusal, named


async def test_metadata_status_and_classify_on_kserve(gw, http):
    status, doc = await call(http, gw, "GET", "/v1/models/rest/metadata")
    assert status == 200 and doc["model_spec"]["name"] == "rest"
    sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["input-0"]["dtype"] == "DT_FLOAT" and sig["outputs"]["output-0"]["dtype"] == "DT_FLOAT"
    status, doc = await call(http, gw, "GET", "/v1/models/rest")
    assert status == 200 and doc["ready"] and doc["model_version_status"][0]["state"] == "AVAILABLE"
    status, doc = await call(http, gw, "POST", "/v1/models/rest:classify", {"examples": [{"x": 1.0}]})
    assert status == 501 and "only tfserving and tfserving-grpc backends have it" in doc["error"]


@pytest.mark.parametrize("model", ["rest", "grpc"])
async def test_tf_serving_grpc_app_to_kserve(gw, model):
    async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        req = predict_pb2.PredictRequest()
        req.model_spec.name = model
        encode_tensor(Tensor("input-0", "FP32", np.array([[1.0, 2.5]], dtype=np.float32)), req.inputs["input-0"])
        resp = await predict.Predict(req)
        assert decode_tensor("output-0", resp.outputs["output-0"]).data.tolist() == [[2.0, 5.0]]
        md_req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        md_req.model_spec.name = model
        sigs = get_model_metadata_pb2.SignatureDefMap()
        assert (await predict.GetModelMetadata(md_req)).metadata["signature_def"].Unpack(sigs)
        assert list(sigs.signature_def["serving_default"].inputs) == ["input-0"]
        status = await model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": model})
        )
        assert [v.state for v in status.model_version_status] == [get_model_status_pb2.ModelVersionStatus.AVAILABLE]
