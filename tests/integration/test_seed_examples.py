"""The request examples of the five seed articles (../shared/seeds/*.txt), each sent through the
gateway to the kind of backend it targets.

Each test names its seed file and the example. Where the article's model cannot run here (a torch,
TensorFlow or transformers model), the request keeps the article's exact JSON structure, names and
shape, and the backend serves the peers' toy model (output = input * 2 + offset, tests/peers/README.md),
so every answer is checked value by value. Backends: the real KServe, MLServer and Ray Serve peers;
the TF Serving stand-ins (tests/servers/tfserving_rest.py, tfserving_grpc.py: there is no TF Serving
binary); seed 002's Flask app is replaced by an aiohttp app with its route and JSON (``analyze`` below).

Examples marked "derived" have no request in the article (only the deployment it is sent to); their
request is the one a client of that deployment sends, and the test says where each part comes from.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.grpc.aio as tca
from aiohttp import web

from isthmus.protos.tfserving.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from isthmus.protos.tfserving.tensorflow_serving.apis import model_pb2, predict_pb2, prediction_service_pb2_grpc
from tests.cache.redis_server import RedisServer, running_redis
from tests.integration.peers import kserve_peer, mlserver_peer, peers_dir  # noqa: F401
from tests.peers.launcher import Peer, start_peer
from tests.servers import tfserving_grpc, tfserving_rest

pytestmark = pytest.mark.peers

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
SEED = {
    "000": "000_29af085b76792ccf.txt",  # KubeRay and KServe for large models
    "001": "001_d3665f9a9b7fcb26.txt",  # Kubernetes inference best practices (TF Serving, KFServing)
    "002": "002_25e435f3151c0511.txt",  # AI/ML on Kubernetes: a TensorFlow sentiment model behind Flask
    "003": "003_e5b1f343fc169f5a.txt",  # KServe: the first InferenceService (sklearn-iris)
    "004": "004_b27f5111c3ba3230.txt",  # Kubeflow 2.0: MNIST on TF Serving
}
KSERVE_OFFSET, MLSERVER_OFFSET, RAY_OFFSET, TFS_OFFSET = 0.0, 100.0, 1000.0, 10.0  # the peers' and stand-ins' offsets


def affine(x: Any, offset: float) -> np.ndarray:
    """What the toy models answer, in FP32 as they compute it."""
    return np.asarray(x, dtype=np.float32) * np.float32(2) + np.float32(offset)


def seed_text(seed: str) -> str:
    return (SEEDS / SEED[seed]).read_text(encoding="utf-8")


def test_every_seed_example_quoted_here_is_in_its_article():
    """The excerpts the tests below rely on are in the articles as quoted (so the tests follow the seeds)."""
    quotes = {
        "000": ['data = await request.json()', 'input_tensor = torch.tensor(data["input"])',
                'return {"output": output.tolist()}', 'route_prefix: "/model"', 'name="large-model-service"',
                "name: mnist-model", "name: pytorch-model", "name: large-model-service",
                "name: medical-diagnosis-service", 'protocolVersion: "v2"', "name: llama-model", 'weight: 90', 'weight: 10',
                "name: cached-model-service", "ttlSeconds: 3600", "redis_client.setex(cache_key, expiration",
                "@cache_result(expiration=1800)"],
        "001": ["--model_namemy_model", "containerPort: 8501", "containerPort: 8500",
                "tf.random.normal([1, 224, 224, 3])", "name: torch-serving", "path: /v1/models",
                "proxy-body-size: 100m", "name: model-v1 path: v1/", "saved_model_cli show --dir /models/my_model"],
        "002": ["@app.route('/analyze', methods=['POST'])", "result = sentiment_model(data['text'])",
                """-d '{"text":"I love using this product!"}' https:///analyze"""],
        "003": ["first_isvc", "为推理请求准备一个输入请求 json 文件", "每个实例的预测值为[1,1]"],
        "004": ["x_test.reshape(-1, 28, 28, 1)", "x_test.astype('float32') / 255.0", "image: tensorflow/serving:2.8.0",
                'value: "mnist_model"', "keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1))"],
    }
    for seed, needles in quotes.items():
        text = seed_text(seed)
        for needle in needles:
            assert needle in text, f"seed {SEED[seed]} does not contain {needle!r}"


async def post_json(http, url: str, body: Any, headers: dict | None = None) -> tuple[int, dict, Any]:
    async with http.post(url, data=orjson.dumps(body), headers={"content-type": "application/json", **(headers or {})}) as r:
        raw = await r.read()
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = raw
        return r.status, dict(r.headers), doc


def v2_tensor(name: str, x: np.ndarray, datatype: str = "FP32") -> dict:
    return {"name": name, "datatype": datatype, "shape": list(x.shape), "data": x.reshape(-1).tolist()}


def single_output(doc: dict) -> np.ndarray:
    (out,) = doc["outputs"]
    return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])


# --- seed 000 (000_29af085b76792ccf.txt): KubeRay's LargeModelDeployment, on real Ray Serve

RAY_MODEL = "model"  # the RayService's route_prefix "/model": the peer serves each model at /NAME


@pytest.fixture(scope="module")
def ray_seed000_peer(tmp_path_factory) -> Iterator[Peer]:
    """The article's deployment (``data["input"]`` -> ``{"output": ...}``) on the Ray peer (helper
    ``jsonmap``'s tests/peers/ray/seed000_deployment.py, numpy in place of torch)."""
    peer = start_peer("ray", peers_dir() / "ray", RAY_MODEL, RAY_OFFSET, timeout=180,
                      log_dir=tmp_path_factory.mktemp("ray-seed000"), deployments={RAY_MODEL: "seed000"})
    try:
        yield peer
    finally:
        peer.stop()


def ray_seed000_config(peer: Peer) -> dict:
    """What an operator writes for seed 000's deployment: where the tensor goes in its request and
    where the prediction is in its answer (JSON pointers)."""
    return {
        "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
        "backends": [{
            "name": "ray-large-model", "protocol": "ray-serve", "endpoints": [peer.url], "model": RAY_MODEL,
            "request": {"inputs": {"input-0": "/input"}},
            "response": {"outputs": {"output-0": "/output"}},
        }],
        "routes": [{"model": "large-model-service", "variants": [{"backend": "ray-large-model", "weight": 1}]}],
    }


X_RAY = np.array([[0.5, -1.25, 3.0, 4.0], [7.5, 0.0, -2.0, 1e3]], dtype=np.float32)


async def test_seed000_ray_large_model_deployment_over_v2_rest(gateway, http, ray_seed000_peer):
    gw = await gateway(ray_seed000_config(ray_seed000_peer))
    status, headers, doc = await post_json(http, gw.url + "/v2/models/large-model-service/infer",
                                           {"inputs": [v2_tensor("input-0", X_RAY)]})
    assert status == 200, doc
    assert headers["x-isthmus-backend"] == "ray-large-model"
    assert doc["model_name"] == "large-model-service" and doc["outputs"][0]["name"] == "output-0"
    np.testing.assert_array_equal(single_output(doc), affine(X_RAY, RAY_OFFSET))


async def test_seed000_ray_large_model_deployment_over_v1_rest(gateway, http, ray_seed000_peer):
    gw = await gateway(ray_seed000_config(ray_seed000_peer))
    status, _, doc = await post_json(http, gw.url + "/v1/models/large-model-service:predict",
                                     {"instances": X_RAY.tolist()})
    assert status == 200, doc
    assert doc == {"predictions": affine(X_RAY, RAY_OFFSET).tolist()}


async def test_seed000_ray_large_model_deployment_over_v2_grpc(gateway, ray_seed000_peer):
    gw = await gateway(ray_seed000_config(ray_seed000_peer))
    async with tca.InferenceServerClient(gw.grpc_target) as client:
        x = tca.InferInput("input-0", list(X_RAY.shape), "FP32")
        x.set_data_from_numpy(X_RAY)
        result = await client.infer("large-model-service", [x])
    np.testing.assert_array_equal(result.as_numpy("output-0"), affine(X_RAY, RAY_OFFSET))


async def test_seed000_ray_large_model_deployment_error_is_named_in_the_502(gateway, http, ray_seed000_peer):
    """A tensor the article's code cannot take (``torch.tensor`` of strings raises, Ray Serve answers 500)."""
    gw = await gateway(ray_seed000_config(ray_seed000_peer))
    status, headers, doc = await post_json(http, gw.url + "/v2/models/large-model-service/infer",
                                           {"inputs": [v2_tensor("input-0", np.array([["a", "b"]]), "BYTES")]})
    assert status == 502, doc
    assert headers["x-isthmus-backend"] == "ray-large-model"
    assert "ray-large-model" in doc["error"] and "500" in doc["error"], doc
    assert len(doc["error"]) < 2000


# --- seed 000 (000_29af085b76792ccf.txt): the KServe InferenceServices (protocolVersion v2), on KServe and MLServer

# InferenceService name -> the input its clients send: MNIST's 28x28x1 image, FP32 scaled to [0, 1] as seed 004
# prepares it, for mnist-model; the article gives no input for the others (a [1, 4] FP32 tensor)
SEED000_ISVCS = {
    "mnist-model": (np.arange(784, dtype=np.float32).reshape(1, 28, 28, 1) % 256) / np.float32(255.0),
    "pytorch-model": np.array([[0.5, 1.5, -2.0, 4.0]], dtype=np.float32),
    "large-model-service": np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32),
    "medical-diagnosis-service": np.array([[0.25, 0.5, 0.75, 1.0]], dtype=np.float32),
}


@pytest.mark.parametrize("isvc", list(SEED000_ISVCS))
async def test_seed000_kserve_inference_service_v2_infer(gateway, http, kserve_peer, isvc):  # noqa: F811
    """Derived: each ``protocolVersion: "v2"`` InferenceService of the article gets an OIP V2 request
    at ``/v2/models/{name}/infer``, on the real KServe server."""
    gw = await gateway({
        "backends": [{"name": f"{isvc}-predictor", "protocol": "kserve-v2", "endpoints": [kserve_peer.url],
                      "model": "double"}],
        "routes": [{"model": isvc, "variants": [{"backend": f"{isvc}-predictor", "weight": 1}]}],
    })
    x = SEED000_ISVCS[isvc]
    status, headers, doc = await post_json(http, gw.url + f"/v2/models/{isvc}/infer",
                                           {"inputs": [v2_tensor("input-0", x)]})
    assert status == 200, doc
    assert doc["model_name"] == isvc and headers["x-isthmus-backend"] == f"{isvc}-predictor"
    np.testing.assert_array_equal(single_output(doc), affine(x, KSERVE_OFFSET))


async def test_seed000_kserve_llama_model_canary_90_10(gateway, http, kserve_peer, mlserver_peer):  # noqa: F811
    """Derived: InferenceService ``llama-model``'s canary (``v1`` weight 90, ``v2`` weight 10), here v1 on
    KServe and v2 on MLServer, both V2; the split is checked within 4 standard deviations."""
    gw = await gateway({
        "backends": [
            {"name": "v1", "protocol": "kserve-v2", "endpoints": [kserve_peer.url], "model": "double"},
            {"name": "v2", "protocol": "kserve-v2", "endpoints": [mlserver_peer.url], "model": "double"},
        ],
        "routes": [{"model": "llama-model", "variants": [{"backend": "v1", "weight": 90}, {"backend": "v2", "weight": 10}],
                    "override_header": "x-isthmus-variant"}],
    })
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    body = {"inputs": [v2_tensor("input-0", x)]}
    offsets = {"v1": KSERVE_OFFSET, "v2": MLSERVER_OFFSET}
    n, seen, sem = 400, Counter(), asyncio.Semaphore(16)

    async def one() -> None:
        async with sem:
            status, headers, doc = await post_json(http, gw.url + "/v2/models/llama-model/infer", body)
        assert status == 200, doc
        variant = headers["x-isthmus-backend"]
        np.testing.assert_array_equal(single_output(doc), affine(x, offsets[variant]))
        seen[variant] += 1

    await asyncio.gather(*(one() for _ in range(n)))
    sd = math.sqrt(n * 0.1 * 0.9)
    assert abs(seen["v2"] - n * 0.1) <= 4 * sd and seen["v1"] + seen["v2"] == n, seen
    status, headers, doc = await post_json(http, gw.url + "/v2/models/llama-model/infer", body,
                                           {"x-isthmus-variant": "v2"})
    assert (status, headers["x-isthmus-backend"]) == (200, "v2")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


async def test_seed000_cache_result_decorator_answers_repeats_from_redis(gateway, http, kserve_peer, redis_server):  # noqa: F811
    """``@cache_result(expiration=1800)`` around ``model_inference(input_data)`` (Redis ``setex``), for the
    ``cached-model-service`` InferenceService: a repeated input is answered from Redis, a new one is not."""
    gw = await gateway({
        "cache": {"redis": {"url": redis_server.url, "timeout": "50ms"}},
        "backends": [{"name": "cached-model-service", "protocol": "kserve-v2", "endpoints": [kserve_peer.url],
                      "model": "double"}],
        "routes": [{"model": "cached-model-service", "variants": [{"backend": "cached-model-service", "weight": 1}],
                    "cache": {"enabled": True, "ttl": "1800s"}}],
    })
    url = gw.url + "/v2/models/cached-model-service/infer"
    x = np.array([[0.25, 0.5]], dtype=np.float32)
    first = await post_json(http, url, {"inputs": [v2_tensor("input-0", x)]})
    again = await post_json(http, url, {"inputs": [v2_tensor("input-0", x)]})
    other = await post_json(http, url, {"inputs": [v2_tensor("input-0", x + 1)]})
    assert [r[0] for r in (first, again, other)] == [200, 200, 200]
    assert [r[1]["x-isthmus-cache"] for r in (first, again, other)] == ["miss", "hit", "miss"]
    assert again[2]["outputs"] == first[2]["outputs"]
    np.testing.assert_array_equal(single_output(again[2]), affine(x, KSERVE_OFFSET))
    np.testing.assert_array_equal(single_output(other[2]), affine(x + 1, KSERVE_OFFSET))
    keys = redis_server.cli("--scan").split()
    assert len(keys) == 2, keys
    ttls = [int(redis_server.cli("ttl", k)) for k in keys]
    assert all(0 < t <= 1800 for t in ttls), ttls  # setex(cache_key, expiration=1800, ...)


# --- seed 001 (001_d3665f9a9b7fcb26.txt): TF Serving my_model (REST 8501, gRPC 8500) and KFServing torch-serving

def recording(app: web.Application) -> list[dict]:
    """The JSON bodies the TF Serving stand-in receives (what the gateway sent it)."""
    seen: list[dict] = []

    @web.middleware
    async def record(request: web.Request, handler):
        if request.method == "POST":
            seen.append(await request.json())
        return await handler(request)

    app.middlewares.append(record)
    return seen


async def tfserving_rest_gateway(gateway, serve_app, model: str, fmt: str = "row",
                                 version: str | None = None) -> tuple[Any, list[dict]]:
    app = tfserving_rest.make_app(model, TFS_OFFSET)
    # TF Serving takes seed 001's 3 MB warmup body; aiohttp refuses bodies over 1 MiB unless the app is
    # built with client_max_size, which make_app does not pass (aiohttp keeps it in this attribute)
    app._client_max_size = 100 * 2**20
    seen = recording(app)
    url = await serve_app(app)
    gw = await gateway({
        # the Ingress's nginx.ingress.kubernetes.io/proxy-body-size: 100m
        "listener": {"address": "127.0.0.1:0", "max_body_size": "100MiB"},
        "backends": [{"name": "tf-serving", "protocol": "tfserving", "endpoints": [url], "model": model,
                      "format": fmt, "version": version}],
        "routes": [{"model": model, "variants": [{"backend": "tf-serving", "weight": 1}]}],
    })
    return gw, seen


WARMUP = np.random.default_rng(0).standard_normal((1, 224, 224, 3), dtype=np.float32)  # tf.random.normal([1, 224, 224, 3])


async def test_seed001_tfserving_my_model_warmup_input_row_format(gateway, http, serve_app):
    """The init container's ``dummy_input = tf.random.normal([1, 224, 224, 3])`` sent to my_model over
    TF Serving REST (the Ingress routes ``/v1/models`` to port 8501), row format."""
    gw, _ = await tfserving_rest_gateway(gateway, serve_app, "my_model")
    status, _, doc = await post_json(http, gw.url + "/v1/models/my_model:predict", {"instances": WARMUP.tolist()})
    assert status == 200, doc if not isinstance(doc, dict) else doc.get("error")
    np.testing.assert_array_equal(np.asarray(doc["predictions"], dtype=np.float32), affine(WARMUP, TFS_OFFSET))


async def test_seed001_tfserving_my_model_warmup_input_columnar_format(gateway, http, serve_app):
    gw, _ = await tfserving_rest_gateway(gateway, serve_app, "my_model", "columnar")
    status, _, doc = await post_json(http, gw.url + "/v1/models/my_model:predict", {"inputs": WARMUP.tolist()})
    assert status == 200, doc if not isinstance(doc, dict) else doc.get("error")
    np.testing.assert_array_equal(np.asarray(doc["outputs"], dtype=np.float32), affine(WARMUP, TFS_OFFSET))


async def test_seed001_tfserving_my_model_status_and_metadata(gateway, http, serve_app):
    """Derived: the model status TF Serving answers on ``/v1/models/my_model`` and the signatures
    ``saved_model_cli show --dir /models/my_model --all`` shows, over REST (``/metadata``)."""
    gw, _ = await tfserving_rest_gateway(gateway, serve_app, "my_model")
    async with http.get(gw.url + "/v1/models/my_model") as r:
        assert r.status == 200, await r.text()
        status = await r.json()
    assert any(v["state"] == "AVAILABLE" for v in status["model_version_status"]), status
    async with http.get(gw.url + "/v1/models/my_model/metadata") as r:
        assert r.status == 200, await r.text()
        metadata = await r.json()
    assert metadata["model_spec"]["name"] == "my_model", metadata


async def test_seed001_tfserving_multi_model_versions_path(gateway, http, serve_app):
    """Derived: ``multiModel`` serves versions from ``v1/``, ``v2/``, ``v3/``; a TF Serving client picks
    one with ``/v1/models/{name}/versions/{n}:predict`` (the backend declares the version it serves)."""
    gw, seen = await tfserving_rest_gateway(gateway, serve_app, "my_model", version="1")
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    status, _, doc = await post_json(http, gw.url + "/v1/models/my_model/versions/1:predict", {"instances": x.tolist()})
    assert status == 200, doc
    assert doc == {"predictions": affine(x, TFS_OFFSET).tolist()}
    assert seen == [{"instances": x.tolist()}]


def tensor_proto(x: np.ndarray) -> tensor_pb2.TensorProto:
    """As ``tf.make_tensor_proto`` builds it from a float32 array: DT_FLOAT, raw ``tensor_content``."""
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_content=x.astype("<f4").tobytes(),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in x.shape]),
    )


def from_tensor_proto(t: tensor_pb2.TensorProto) -> np.ndarray:
    shape = [d.size for d in t.tensor_shape.dim]
    if t.tensor_content:
        return np.frombuffer(t.tensor_content, dtype="<f4").reshape(shape)
    return np.asarray(t.float_val, dtype=np.float32).reshape(shape)


async def tfserving_grpc_predict(gateway, model: tfserving_grpc.Model, input_alias: str, x: np.ndarray,
                                 signature: str | None) -> predict_pb2.PredictResponse:
    """A TF Serving gRPC client (PredictionService/Predict, port 8500 in the seeds) pointed at the gateway."""
    server, port = await tfserving_grpc.start_server(model)
    try:
        gw = await gateway({
            "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
            "backends": [{"name": "tf-serving-grpc", "protocol": "tfserving-grpc", "endpoints": [f"127.0.0.1:{port}"],
                          "model": model.name}],
            "routes": [{"model": model.name, "variants": [{"backend": "tf-serving-grpc", "weight": 1}]}],
        })
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model.name))
        if signature is not None:
            request.model_spec.signature_name = signature
        request.inputs[input_alias].CopyFrom(tensor_proto(x))
        async with grpc.aio.insecure_channel(gw.grpc_target) as channel:
            return await prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    finally:
        await server.stop(None)


async def test_seed001_tfserving_my_model_grpc_predict(gateway):
    """The Deployment's gRPC port 8500: ``Predict`` for my_model with the warmup input, through the gateway."""
    answer = await tfserving_grpc_predict(gateway, tfserving_grpc.Model("my_model", offset=TFS_OFFSET), "input_1",
                                          WARMUP, None)
    np.testing.assert_array_equal(from_tensor_proto(answer.outputs["input_1"]), affine(WARMUP, TFS_OFFSET))
    assert answer.model_spec.name == "my_model"


async def test_seed001_kfserving_torch_serving_v1_predict(gateway, http, kserve_peer):  # noqa: F811
    """Derived: KFServing InferenceService ``torch-serving`` (pytorch predictor, V1 protocol) gets
    ``POST /v1/models/torch-serving:predict`` with ``instances``."""
    gw = await gateway({
        "backends": [{"name": "torch-serving-predictor", "protocol": "kserve-v1", "endpoints": [kserve_peer.url],
                      "model": "double"}],
        "routes": [{"model": "torch-serving", "variants": [{"backend": "torch-serving-predictor", "weight": 1}]}],
    })
    x = np.array([[0.1, 0.2, 0.3], [1.5, -2.5, 3.5]], dtype=np.float32)
    status, _, doc = await post_json(http, gw.url + "/v1/models/torch-serving:predict", {"instances": x.tolist()})
    assert status == 200, doc
    assert doc == {"predictions": affine(x, KSERVE_OFFSET).tolist()}


# --- seed 002 (002_25e435f3151c0511.txt): the Flask sentiment app (POST /analyze {"text": ...})

def analyze_app(seen: list[Any]) -> web.Application:
    """The article's Flask app (``/analyze``: ``sentiment_model(data['text'])``, answered with
    ``jsonify(result)``) with its route and JSON, a word list in place of the transformers pipeline
    (no model download here). Like the pipeline, a string gives ``[{"label", "score"}]``, a list one
    result per string."""

    def sentiment(text: str) -> dict:
        positive = any(w in text.lower() for w in ("love", "great", "good"))
        return {"label": "POSITIVE" if positive else "NEGATIVE", "score": 0.75 if positive else 0.25}

    async def analyze(request: web.Request) -> web.Response:
        data = await request.json()
        seen.append(data)
        text = data["text"]
        return web.json_response([sentiment(t) for t in ([text] if isinstance(text, str) else text)])

    app = web.Application()
    app.router.add_post("/analyze", analyze)
    return app


async def test_seed002_flask_sentiment_analyze_curl_body(gateway, http, serve_app):
    """``curl -X POST -H "Content-Type: application/json" -d '{"text":"I love using this product!"}' .../analyze``:
    the app sends the text as a V2 BYTES scalar; the gateway sends the article's exact body."""
    seen: list[Any] = []
    url = await serve_app(analyze_app(seen))
    gw = await gateway({
        "backends": [{"name": "sentiment-analysis", "protocol": "http-json", "endpoints": [url], "path": "/analyze",
                      "request": {"inputs": {"text": "/text"}},
                      "response": {"outputs": {"label": "/0/label", "score": "/0/score"}}}],
        "routes": [{"model": "sentiment-analysis", "variants": [{"backend": "sentiment-analysis", "weight": 1}]}],
    })
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [], "data": ["I love using this product!"]}]}
    status, _, doc = await post_json(http, gw.url + "/v2/models/sentiment-analysis/infer", body)
    assert status == 200, doc
    assert seen == [{"text": "I love using this product!"}]
    outputs = {o["name"]: o for o in doc["outputs"]}
    assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["data"] == ["POSITIVE"], outputs
    assert outputs["score"]["data"] == [0.75], outputs


# --- seed 003 (003_e5b1f343fc169f5a.txt): KServe's first InferenceService, sklearn-iris

# The article's input file and curl are the linked KServe 0.10 "first InferenceService" page's (its text
# keeps only "prepare an input request json file ... predictions [1,1]"): iris-input.json and
#   curl -v -H "Host: ${SERVICE_HOSTNAME}" -H "Content-Type: application/json" \
#        "http://${INGRESS_HOST}:${INGRESS_PORT}/v1/models/sklearn-iris:predict" -d @./iris-input.json
IRIS_INPUT = {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}
IRIS_HOST = "sklearn-iris.kserve-test.example.com"


async def test_seed003_sklearn_iris_v1_predict_on_kserve(gateway, http, kserve_peer):  # noqa: F811
    gw = await gateway({
        "backends": [{"name": "sklearn-iris-predictor", "protocol": "kserve-v1", "endpoints": [kserve_peer.url],
                      "model": "double"}],
        "routes": [{"model": "sklearn-iris", "variants": [{"backend": "sklearn-iris-predictor", "weight": 1}]}],
    })
    status, _, doc = await post_json(http, gw.url + "/v1/models/sklearn-iris:predict", IRIS_INPUT, {"Host": IRIS_HOST})
    assert status == 200, doc
    assert doc == {"predictions": affine(IRIS_INPUT["instances"], KSERVE_OFFSET).tolist()}


@pytest.mark.parametrize("dialect", ["v1", "v2"])
async def test_seed003_sklearn_iris_on_mlserver(gateway, http, mlserver_peer, dialect):  # noqa: F811
    """The same model on KServe's V2 sklearn runtime, MLServer: the V1 iris-input.json (translated by the
    gateway) and the V2 body KServe's docs give for it (``iris-input-v2.json``: input-0, FP32, [2, 4])."""
    gw = await gateway({
        "backends": [{"name": "sklearn-iris-mlserver", "protocol": "kserve-v2", "endpoints": [mlserver_peer.url],
                      "model": "double"}],
        "routes": [{"model": "sklearn-iris", "variants": [{"backend": "sklearn-iris-mlserver", "weight": 1}]}],
    })
    expected = affine(IRIS_INPUT["instances"], MLSERVER_OFFSET)
    if dialect == "v1":
        status, _, doc = await post_json(http, gw.url + "/v1/models/sklearn-iris:predict", IRIS_INPUT,
                                         {"Host": IRIS_HOST})
        assert status == 200, doc
        assert doc == {"predictions": expected.tolist()}
    else:
        body = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": IRIS_INPUT["instances"]}]}
        status, _, doc = await post_json(http, gw.url + "/v2/models/sklearn-iris/infer", body, {"Host": IRIS_HOST})
        assert status == 200, doc
        np.testing.assert_array_equal(single_output(doc), expected)


# --- seed 004 (004_b27f5111c3ba3230.txt): Kubeflow's MNIST on TF Serving 2.8 (MODEL_NAME mnist_model, REST 8501)

# x_test.reshape(-1, 28, 28, 1) of x_test.astype('float32') / 255.0: one image
MNIST_IMAGE = ((np.arange(784, dtype=np.float32) * 7 % 256) / np.float32(255.0)).reshape(1, 28, 28, 1)
# the Keras model's SavedModel signature: serving_default, input named after its first layer (Conv2D)
MNIST_INPUT_ALIAS = "conv2d_input"


async def test_seed004_tfserving_mnist_model_rest_row_format(gateway, http, serve_app):
    gw, seen = await tfserving_rest_gateway(gateway, serve_app, "mnist_model")
    status, _, doc = await post_json(http, gw.url + "/v1/models/mnist_model:predict",
                                     {"instances": MNIST_IMAGE.tolist()})
    assert status == 200, doc
    np.testing.assert_array_equal(np.asarray(doc["predictions"], dtype=np.float32), affine(MNIST_IMAGE, TFS_OFFSET))
    assert seen and seen[-1]["instances"] == MNIST_IMAGE.tolist()


async def test_seed004_tfserving_mnist_model_rest_columnar_with_signature_name(gateway, http, serve_app):
    """TF Serving's columnar format with the signature named, as a TF Serving client sends it."""
    gw, seen = await tfserving_rest_gateway(gateway, serve_app, "mnist_model", "columnar")
    body = {"signature_name": "serving_default", "inputs": {MNIST_INPUT_ALIAS: MNIST_IMAGE.tolist()}}
    status, _, doc = await post_json(http, gw.url + "/v1/models/mnist_model:predict", body)
    assert status == 200, doc
    (out,) = doc["outputs"].values() if isinstance(doc["outputs"], dict) else [doc["outputs"]]
    np.testing.assert_array_equal(np.asarray(out, dtype=np.float32), affine(MNIST_IMAGE, TFS_OFFSET))
    assert seen and seen[-1].get("signature_name") == "serving_default", seen[-1:]


async def test_seed004_tfserving_mnist_model_grpc_predict(gateway):
    """The Deployment's gRPC port 8500: ``Predict`` with ``signature_name: serving_default`` and the
    Keras input alias, through the gateway to the TF Serving gRPC stand-in."""
    model = tfserving_grpc.Model("mnist_model", offset=TFS_OFFSET, renames={MNIST_INPUT_ALIAS: "dense_1"})
    answer = await tfserving_grpc_predict(gateway, model, MNIST_INPUT_ALIAS, MNIST_IMAGE, "serving_default")
    np.testing.assert_array_equal(from_tensor_proto(answer.outputs["dense_1"]), affine(MNIST_IMAGE, TFS_OFFSET))
    assert model.calls and model.calls[-1].model_spec.signature_name == "serving_default"
