"""The answer's fields are the app's contract: every backend kind through V2 REST, V1 REST and gRPC.

Backends: real KServe (V2 REST, V1, V2 gRPC), real MLServer (V2 REST, V2 gRPC), real Ray Serve, the
TF Serving REST and gRPC stand-ins (no TF Serving binary here), local ONNX Runtime. Each V2 REST
answer is validated against the Open Inference Protocol REST document's ``inference_response``
(kserve/open-inference-protocol ``specification/protocol/open_inference_rest.yaml`` at d49cc23,
vendored in tests/conformance/) and must hold no null outside tensor data; the ``id`` is the app's
when it sent one, else the backend call's (KServe and MLServer generate one), never a cached call's;
model metadata is complete (``metadata_model_response`` with inputs, outputs and a platform) or a
clear 501 / 503 error saying how to declare it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator
from tritonclient.grpc import service_pb2_grpc

from isthmus.codecs import InferRequest, Tensor
from isthmus.codecs import v2_grpc as codec
from tests.integration.peers import kserve_peer, mlserver_peer, ray_peer  # noqa: F401
from tests.servers import tfserving_grpc, tfserving_rest

pytestmark = pytest.mark.peers

SPEC = Path(__file__).resolve().parents[1] / "conformance" / "open_inference_rest.yaml"
IN = {"name": "input-0", "datatype": "FP32", "shape": [-1, -1]}
OUT = {"name": "output-0", "datatype": "FP32", "shape": [-1, -1]}

# backend kind -> the offset its model adds (x*2 + offset)
OFFSETS = {"kserve-v2": 0.0, "kserve-v1": 0.0, "kserve-grpc": 0.0, "mlserver": 100.0, "mlserver-grpc": 100.0,
           "ray": 1000.0, "ray-declared": 1000.0, "tfs-rest": 10.0, "tfs-grpc": 20.0, "onnx": 100.0}
# the servers that give each call an id of their own when the request has none (MLServer only over REST)
GENERATES_ID = {"kserve-v2", "kserve-grpc", "mlserver"}
# the TF Serving gRPC stand-in names each output after its input (x*2+offset per input alias)
OUTPUT_NAME = {"tfs-grpc": "input-0"}
# where each kind's metadata comes from: its server, the config, nowhere (501), or TF Serving's
# metadata API, which the TF Serving backends may or may not implement on this branch (complete or a clear error)
METADATA = {"kserve-v2": "server", "kserve-grpc": "server", "mlserver": "server", "mlserver-grpc": "server",
            "onnx": "server", "ray-declared": "declared", "kserve-v1": 501, "ray": 501,
            "tfs-rest": "either", "tfs-grpc": "either"}


@functools.cache
def schema(name: str) -> Draft202012Validator:
    """A validator of ``components/schemas/<name>`` of the vendored OpenAPI document."""
    components = yaml.safe_load(SPEC.read_text())["components"]
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def nulls(doc: Any, path: str = "") -> list[str]:
    """Where ``doc`` holds a null (tensor data excluded: a value there is the model's)."""
    if doc is None:
        return [path or "(document)"]
    if isinstance(doc, dict):
        return [p for k, v in doc.items() if k != "data" for p in nulls(v, f"{path}.{k}")]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in nulls(v, f"{path}[{i}]")]
    return []


@pytest.fixture
async def kinds(gateway, serve_app, onnx_models, kserve_peer, mlserver_peer, ray_peer):  # noqa: F811
    tfs_url = await serve_app(tfserving_rest.make_app("double", OFFSETS["tfs-rest"]))
    tfs_grpc, tfs_port = await tfserving_grpc.start_server(tfserving_grpc.Model("double", offset=OFFSETS["tfs-grpc"]))
    declared = {"inputs": [IN], "outputs": [OUT]}
    backends = [
        {"name": "kserve-v2", "protocol": "kserve-v2", "endpoints": [kserve_peer.url]},
        {"name": "kserve-v1", "protocol": "kserve-v1", "endpoints": [kserve_peer.url]},
        {"name": "kserve-grpc", "protocol": "kserve-v2-grpc", "endpoints": [f"grpc://127.0.0.1:{kserve_peer.grpc_port}"]},
        {"name": "mlserver", "protocol": "kserve-v2", "endpoints": [mlserver_peer.url]},
        {"name": "mlserver-grpc", "protocol": "kserve-v2-grpc",
         "endpoints": [f"grpc://127.0.0.1:{mlserver_peer.grpc_port}"]},
        {"name": "ray", "protocol": "ray-serve", "endpoints": [ray_peer.url]},
        {"name": "ray-declared", "protocol": "ray-serve", "endpoints": [ray_peer.url], **declared},
        {"name": "tfs-rest", "protocol": "tfserving", "endpoints": [tfs_url]},
        {"name": "tfs-grpc", "protocol": "tfserving-grpc", "endpoints": [f"grpc://127.0.0.1:{tfs_port}"]},
    ]
    for b in backends:
        b["model"] = "double"
    backends.append({"name": "onnx", "protocol": "onnx", "model_path": str(onnx_models["double100"])})
    routes = [{"model": f"m-{b['name']}", "variants": [{"backend": b["name"], "weight": 1}]} for b in backends]
    routes.append({"model": "cached", "variants": [{"backend": "kserve-v2", "weight": 1}], "cache": {"enabled": True}})
    server = await gateway({"listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
                            "backends": backends, "routes": routes})
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        yield Gateway(server.url, service_pb2_grpc.GRPCInferenceServiceStub(channel))
    await tfs_grpc.stop(None)


@dataclass
class Gateway:
    url: str
    stub: service_pb2_grpc.GRPCInferenceServiceStub


X = [[0.5, -1.25, 3.0], [4.0, 10.0, -7.5]]


def v2_doc(request_id: str | None = None, name: str = "input-0") -> dict[str, Any]:
    doc: dict[str, Any] = {"inputs": [{"name": name, "datatype": "FP32", "shape": [2, 3], "data": X}]}
    if request_id is not None:
        doc["id"] = request_id
    return doc


def expected(kind: str) -> list[list[float]]:
    return (np.asarray(X, np.float32) * 2 + np.float32(OFFSETS[kind])).tolist()


async def v2_infer(http, server, model: str, doc: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
    async with http.post(f"{server.url}/v2/models/{model}/infer", data=orjson.dumps(doc)) as r:
        return r.status, dict(r.headers), await r.json(content_type=None)


@pytest.mark.parametrize("kind", list(OFFSETS))
async def test_v2_rest_answers_are_schema_valid_without_nulls_and_keep_the_right_id(kinds, http, kind):
    ids = []
    for request_id in ("app-7", None, None):
        status, _, doc = await v2_infer(http, kinds, f"m-{kind}", v2_doc(request_id))
        assert status == 200, doc
        schema("inference_response").validate(doc)
        assert nulls(doc) == [], doc
        assert doc["model_name"] == f"m-{kind}" and "model_version" not in doc
        (out,) = doc["outputs"]
        got = np.asarray(out["data"], np.float32).reshape(out["shape"]).tolist()
        assert (out["name"], out["datatype"], got) == (OUTPUT_NAME.get(kind, "output-0"), "FP32", expected(kind))
        ids.append(doc.get("id"))
    assert ids[0] == "app-7"
    if kind in GENERATES_ID:  # the backend's own id for each call, not the app's, not a constant
        assert all(isinstance(i, str) and i for i in ids[1:]) and ids[1] != ids[2], ids
    else:
        assert ids[1:] == [None, None]


async def test_a_cache_hit_carries_no_backend_id_but_the_apps(kinds, http):
    _, miss_headers, miss = await v2_infer(http, kinds, "cached", v2_doc())
    _, hit_headers, hit = await v2_infer(http, kinds, "cached", v2_doc())
    _, _, hit_with_id = await v2_infer(http, kinds, "cached", v2_doc("app-9"))
    assert (miss_headers["x-isthmus-cache"], hit_headers["x-isthmus-cache"]) == ("miss", "hit")
    assert isinstance(miss.get("id"), str) and "id" not in hit and hit_with_id["id"] == "app-9"
    for doc in (miss, hit, hit_with_id):
        schema("inference_response").validate(doc)
        assert nulls(doc) == []


@pytest.mark.parametrize("kind", list(OFFSETS))
async def test_v1_rest_answers_hold_only_predictions(kinds, http, kind):
    body = orjson.dumps({"instances": [[1.0, 2.0], [3.0, 4.0]]})
    async with http.post(f"{kinds.url}/v1/models/m-{kind}:predict", data=body) as r:
        assert r.status == 200, await r.text()
        doc = await r.json()
    off = OFFSETS[kind]
    assert doc == {"predictions": [[2 + off, 4 + off], [6 + off, 8 + off]]}


def grpc_request(kind: str, request_id: str | None) -> Any:
    t = Tensor("input-0", "FP32", np.asarray(X, np.float32))
    return codec.encode_request(InferRequest(id=request_id), (t,), f"m-{kind}")


def null_parameters(reply: Any) -> list[str]:
    """gRPC parameters that carry a JSON null as text (a REST backend's null translated blindly)."""
    found = [k for k, p in reply.parameters.items() if p.WhichOneof("parameter_choice") is None or p.string_param == "null"]
    for t in reply.outputs:
        found += [f"{t.name}.{k}" for k, p in t.parameters.items() if p.string_param == "null"]
    return found


@pytest.mark.parametrize("kind", list(OFFSETS))
async def test_grpc_answers_keep_the_right_id_and_no_null_parameters(kinds, kind):
    ids = []
    for request_id in ("app-7", None, None):
        reply = await kinds.stub.ModelInfer(grpc_request(kind, request_id))
        assert (reply.model_name, reply.model_version) == (f"m-{kind}", "")
        assert null_parameters(reply) == []
        (out,) = codec.decode_response(reply, "gateway").outputs
        assert (out.name, out.data.tolist()) == (OUTPUT_NAME.get(kind, "output-0"), expected(kind))
        ids.append(reply.id)
    assert ids[0] == "app-7"
    if kind in GENERATES_ID:
        assert all(ids[1:]) and ids[1] != ids[2], ids
    else:
        assert ids[1:] == ["", ""]


@pytest.mark.parametrize("kind", list(OFFSETS))
async def test_metadata_is_complete_or_a_clear_error(kinds, http, kind):
    async with http.get(f"{kinds.url}/v2/models/m-{kind}") as r:
        status, doc = r.status, await r.json(content_type=None)
    try:
        reply = await kinds.stub.ModelMetadata(codec.pb.ModelMetadataRequest(name=f"m-{kind}"))
        grpc_error = None
    except grpc.aio.AioRpcError as exc:
        reply, grpc_error = None, exc
    want = METADATA[kind]
    if status == 200:
        assert want in ("server", "declared", "either"), doc
        schema("metadata_model_response").validate(doc)
        assert nulls(doc) == [] and doc["name"] == f"m-{kind}" and doc["platform"]
        assert doc["inputs"] and doc["outputs"]
        for t in doc["inputs"] + doc["outputs"]:
            schema("metadata_tensor").validate(t)
        if want in ("server", "declared"):
            assert (doc["inputs"], doc["outputs"]) == ([IN], [OUT]), doc
        assert grpc_error is None and reply is not None
        assert codec.metadata_from_pb(reply) == {**doc, "versions": []}
    else:
        assert want in (501, "either") and status in (501, 503), (status, doc)
        schema("metadata_model_error_response").validate(doc)
        assert list(doc) == ["error"] and f"model 'm-{kind}'" in doc["error"] and "declare" in doc["error"]
        assert grpc_error is not None and grpc_error.details() == doc["error"]
        code = grpc.StatusCode.UNIMPLEMENTED if status == 501 else grpc.StatusCode.UNAVAILABLE
        assert grpc_error.code() == code


# what a V2 input name the model does not have gets, per kind: 400 from the gateway (ONNX; declared
# inputs), a 4xx from the backend (it checks names), or 200 where the dialect has no names (V1, Ray,
# TF Serving rows: the one tensor goes as `instances`, its name is not sent). The TF Serving gRPC
# stand-in computes on any input alias (TF Serving itself refuses one its signature lacks): 200 too.
NAMES_JUDGED_BY = {"onnx": "gateway", "ray-declared": "gateway", "kserve-v2": "backend", "kserve-grpc": "backend",
                   "mlserver": "backend", "mlserver-grpc": "backend", "tfs-grpc": "no check",
                   "kserve-v1": "no names", "ray": "no names", "tfs-rest": "no names"}


@pytest.mark.parametrize("kind", list(OFFSETS))
@pytest.mark.parametrize("name", ["../../etc/passwd", "x"])
async def test_an_input_name_the_model_does_not_have(kinds, http, kind, name):
    status, headers, doc = await v2_infer(http, kinds, f"m-{kind}", v2_doc(name=name))
    judge = NAMES_JUDGED_BY[kind]
    if judge == "gateway":
        assert (status, doc) == (400, {"error": f"unknown input {name!r} (model 'm-{kind}' has inputs: input-0)"})
        assert headers["x-isthmus-backend"] == "-"
    elif judge == "backend":
        assert 400 <= status < 500 and f"backend '{kind}'" in doc["error"], (status, doc)
    else:
        assert status == 200, doc


@pytest.mark.parametrize("kind", list(OFFSETS))
async def test_a_nul_in_an_input_name_is_refused_before_any_backend(kinds, http, kind):
    status, headers, doc = await v2_infer(http, kinds, f"m-{kind}", v2_doc(name="input-0\x00"))
    assert status == 400 and "control character U+0000" in doc["error"]
    assert headers["x-isthmus-backend"] == "-"
    t = Tensor("input-0\x00", "FP32", np.ones((1, 1), np.float32))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await kinds.stub.ModelInfer(codec.encode_request(InferRequest(), (t,), f"m-{kind}"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "U+0000" in err.value.details()
