"""Seed 004 (a Kubeflow article) deploys ``tensorflow/serving`` with ``MODEL_NAME=mnist_model`` on ports
8501 (REST) and 8500 (gRPC), serving a Keras CNN whose input is ``(28, 28, 1)`` images. The article
shows no request body; this is what its clients send, through the gateway to the TF Serving stand-ins
(REST and gRPC; there is no TF Serving binary here) in place of that Deployment. Seeds 002 and 003
have no TF Serving request (002 posts ``{"text": ...}`` to a Flask app, 003 omits its KServe body).
"""

import grpc
import numpy as np
import orjson

from isthmus.codecs import Tensor
from isthmus.codecs.tensorproto import decode_tensor, encode_tensor
from isthmus.protos.tfserving.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tests.conftest import make_config
from tests.servers import tfserving_rest
from tests.servers.tfserving_grpc import Model, start_server


async def test_seed_004_mnist_model_rest_and_grpc(gateway, http, serve_app):
    rest_url = await serve_app(tfserving_rest.make_app("mnist_model"))
    grpc_server, grpc_port = await start_server(Model("mnist_model"))
    try:
        server = await gateway(make_config({
            "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
            "backends": [
                {"name": "mnist-rest", "protocol": "tfserving", "endpoints": [rest_url]},  # :8501
                {"name": "mnist-grpc", "protocol": "tfserving-grpc", "endpoints": [f"127.0.0.1:{grpc_port}"]},  # :8500
            ],
            "routes": [{"model": "mnist_model", "override_header": "x-variant",
                        "variants": [{"backend": "mnist-rest", "weight": 1}, {"backend": "mnist-grpc", "weight": 1}]}],
        }))  # fmt: skip
        image = (np.arange(28 * 28, dtype=np.float32) / 784).reshape(1, 28, 28, 1)
        for variant in ("mnist-rest", "mnist-grpc"):
            body = orjson.dumps({"instances": image.tolist()})  # x_test.reshape(-1, 28, 28, 1), one image
            headers = {"x-variant": variant}
            async with http.post(server.url + "/v1/models/mnist_model:predict", data=body, headers=headers) as r:
                assert r.status == 200 and r.headers["x-isthmus-backend"] == variant
                got = np.asarray((await r.json())["predictions"], dtype=np.float32)
            np.testing.assert_array_equal(got, image * 2)  # the stand-in's x*2, shape (1, 28, 28, 1) kept
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            req = predict_pb2.PredictRequest()
            req.model_spec.name = "mnist_model"
            encode_tensor(Tensor("input_1", "FP32", image), req.inputs["input_1"])
            resp = await prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                req, metadata=[("x-variant", "mnist-grpc")]
            )
        out = decode_tensor("input_1", resp.outputs["input_1"]).data
        assert out.shape == (1, 28, 28, 1)
        np.testing.assert_array_equal(out, image * 2)
    finally:
        await grpc_server.stop(None)
