"""A TF Serving gRPC app (stubs generated from TF Serving's protos) calling the gateway's gRPC listener:
Predict routed to the gRPC stand-in, to the REST stand-in and to a V2 backend (the ONNX route),
GetModelMetadata, Classify, Regress, GetModelStatus, and TF Serving's error codes."""

import grpc
import numpy as np
import pytest

from isthmus.codecs import Tensor
from isthmus.codecs.tensorproto import decode_tensor, encode_tensor
from isthmus.protos.tfserving.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tests.conftest import free_port, make_config
from tests.servers import tfserving_rest
from tests.servers.tfserving_grpc import Model

CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


@pytest.fixture
async def stubs(gateway, serve_app, tfs_grpc, onnx_models):
    """``(gateway, PredictionService stub, ModelService stub, the gRPC stand-in's Model)``."""
    model = Model("remote", renames={"x": "y"})
    slow = Model("slow", delay=5.0)
    target = await tfs_grpc(model, slow)
    url = await serve_app(tfserving_rest.make_app("remote", versions=(1, 2)))
    server = await gateway(make_config({
        "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
        "backends": [
            {"name": "tfs-grpc", "protocol": "tfserving-grpc", "endpoints": [target], "model": "remote"},
            {"name": "tfs-slow", "protocol": "tfserving-grpc", "endpoints": [target], "model": "slow"},
            {"name": "tfs-v1", "protocol": "tfserving", "endpoints": [url], "model": "remote", "version": "1"},
            {"name": "tfs-v2", "protocol": "tfserving", "endpoints": [url], "model": "remote", "version": "2"},
            {"name": "down", "protocol": "tfserving-grpc", "endpoints": [f"127.0.0.1:{free_port()}"], "timeout": "2s"},
            {"name": "onnx", "protocol": "onnx", "model_path": str(onnx_models["double"])},
        ],
        "routes": [
            {"model": "g", "variants": [{"backend": "tfs-grpc", "weight": 1}]},
            {"model": "slow", "variants": [{"backend": "tfs-slow", "weight": 1}]},
            {"model": "tfm", "variants": [{"backend": "tfs-v1", "weight": 90}, {"backend": "tfs-v2", "weight": 10}]},
            {"model": "down", "variants": [{"backend": "down", "weight": 1}]},
            {"model": "demo", "variants": [{"backend": "onnx", "weight": 1}]},
        ],
    }), random=lambda: 0.0)  # fmt: skip
    channel = grpc.aio.insecure_channel(server.grpc_target)
    yield (
        server,
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
        model,
    )
    await channel.close()


def predict_request(model: str, inputs: dict[str, np.ndarray], **spec) -> predict_pb2.PredictRequest:
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    for key, value in spec.items():
        if key == "version":
            req.model_spec.version.value = value
        else:
            setattr(req.model_spec, key, value)
    for name, arr in inputs.items():
        encode_tensor(Tensor(name, "FP32", arr.astype(np.float32)), req.inputs[name])
    return req


def outputs(resp: predict_pb2.PredictResponse) -> dict[str, list]:
    return {name: decode_tensor(name, resp.outputs[name]).data.tolist() for name in resp.outputs}


def examples_input(*xs: float):
    from isthmus.protos.tfserving.tensorflow_serving.apis import input_pb2

    inp = input_pb2.Input()
    for x in xs:
        inp.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    return inp


async def test_predict_to_the_grpc_stand_in_with_its_signature(stubs):
    _, predict, _, model = stubs
    call = predict.Predict(predict_request("g", {"x": np.array([[1.0, 2.0]])}), metadata=[("x-request-id", "r-1")])
    resp = await call
    assert outputs(resp) == {"y": [[2.0, 4.0]]} and resp.model_spec.name == "g"
    md = dict(await call.initial_metadata())
    assert (md["x-isthmus-backend"], md["x-request-id"]) == ("tfs-grpc", "r-1")
    resp = await predict.Predict(predict_request("g", {"x": np.array([[1.0]])}, signature_name="times_three"))
    assert outputs(resp) == {"y": [[3.0]]} and resp.model_spec.signature_name == "times_three"
    assert model.calls[-1].model_spec.signature_name == "times_three"  # passed on


async def test_predict_translated_to_rest_and_to_a_v2_backend(stubs):
    _, predict, _, _ = stubs
    resp = await predict.Predict(predict_request("demo", {"input-0": np.array([[1.0, 2, 3, 4]])}))  # ONNX
    assert outputs(resp) == {"output-0": [[2.0, 4.0, 6.0, 8.0]]}
    # to TF Serving REST in row format: one input goes without its name, and the answer's one output
    # is named by the backend's tensors.output_name (as a row answer carries no name)
    resp = await predict.Predict(predict_request("tfm", {"x": np.array([[1.0]])}, version=2))
    assert outputs(resp) == {"output-0": [[102.0]]} and resp.model_spec.version.value == 2
    resp = await predict.Predict(predict_request("tfm", {"x": np.array([[1.0]])}, version_label="tfs-v2"))
    assert outputs(resp) == {"output-0": [[102.0]]}  # a label naming the canary variant


async def test_get_model_metadata(stubs):
    _, predict, _, _ = stubs
    sigs = get_model_metadata_pb2.SignatureDefMap()
    req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    req.model_spec.name = "g"
    resp = await predict.GetModelMetadata(req)
    assert resp.metadata["signature_def"].Unpack(sigs) and resp.model_spec.name == "g"
    assert sigs.signature_def[CLASSIFY].method_name == CLASSIFY
    req.model_spec.name = "demo"
    resp = await predict.GetModelMetadata(req)
    assert resp.metadata["signature_def"].Unpack(sigs)
    assert list(sigs.signature_def) == ["serving_default"] and list(sigs.signature_def["serving_default"].inputs) == ["input-0"]


async def test_classify_regress_and_status(stubs):
    _, predict, models, _ = stubs
    req = classification_pb2.ClassificationRequest(input=examples_input(1.5, 2.0))
    req.model_spec.name, req.model_spec.signature_name = "g", CLASSIFY
    resp = await predict.Classify(req)
    got = [[(c.label, c.score) for c in cs.classes] for cs in resp.result.classifications]
    assert got == [[("double", 3.0), ("", 1.5)], [("double", 4.0), ("", 2.0)]]
    req = regression_pb2.RegressionRequest(input=examples_input(1.0))
    req.model_spec.name, req.model_spec.signature_name = "tfm", REGRESS
    req.model_spec.version.value = 2
    resp = await predict.Regress(req)  # to the REST stand-in's version 2
    assert [r.value for r in resp.result.regressions] == [102.0]
    status = await models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "tfm"}))
    assert [(v.version, v.state) for v in status.model_version_status] == [(1, AVAILABLE), (2, AVAILABLE)]


async def code_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details()


async def test_error_codes(stubs):
    _, predict, models, _ = stubs
    x = {"x": np.array([[1.0]])}
    codes = {
        "unknown model": await code_of(predict.Predict(predict_request("nope", x))),
        "unknown version": await code_of(predict.Predict(predict_request("tfm", x, version=9))),
        "unknown label": await code_of(predict.Predict(predict_request("tfm", x, version_label="stable"))),
        "no name": await code_of(predict.Predict(predict_request("", x))),
        "no inputs": await code_of(predict.Predict(predict_request("g", {}))),
        "bad signature": await code_of(predict.Predict(predict_request("g", x, signature_name="nope"))),
        "down": await code_of(predict.Predict(predict_request("down", x))),
        "deadline": await code_of(predict.Predict(predict_request("slow", x), timeout=0.3)),
        "classify on onnx": await code_of(predict.Classify(
            classification_pb2.ClassificationRequest(model_spec={"name": "demo"}, input=examples_input(1.0)))),
        "no examples": await code_of(predict.Regress(regression_pb2.RegressionRequest(model_spec={"name": "g"}))),
        "multi inference": await code_of(predict.MultiInference(inference_pb2.MultiInferenceRequest())),
        "metadata field": await code_of(predict.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec={"name": "g"}, metadata_field=["nope"]))),
        "status of nothing": await code_of(models.GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "nope"}))),
    }  # fmt: skip
    S = grpc.StatusCode
    assert {k: c for k, (c, _) in codes.items()} == {
        "unknown model": S.NOT_FOUND, "unknown version": S.NOT_FOUND, "unknown label": S.INVALID_ARGUMENT,
        "no name": S.INVALID_ARGUMENT, "no inputs": S.INVALID_ARGUMENT, "bad signature": S.INVALID_ARGUMENT,
        "down": S.UNAVAILABLE, "deadline": S.DEADLINE_EXCEEDED, "classify on onnx": S.UNIMPLEMENTED,
        "no examples": S.INVALID_ARGUMENT, "multi inference": S.UNIMPLEMENTED, "metadata field": S.INVALID_ARGUMENT,
        "status of nothing": S.NOT_FOUND,
    }  # fmt: skip
    assert "no version '9'" in codes["unknown version"][1]
    assert 'Serving signature name: "nope" not found' in codes["bad signature"][1]
    assert "backend 'down' is unavailable" in codes["down"][1]
    assert "only tfserving and tfserving-grpc backends have it" in codes["classify on onnx"][1]
    assert "MultiInference is not supported" in codes["multi inference"][1]
