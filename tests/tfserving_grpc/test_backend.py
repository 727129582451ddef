"""The tfserving-grpc backend against the TF Serving gRPC stand-in (tests/servers/tfserving_grpc.py)."""

import numpy as np
import orjson
import pytest

from isthmus.backends import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable, build_backend
from isthmus.backends.base import CallContext
from isthmus.codecs import CodecError, InferRequest
from isthmus.codecs.tensors import DATATYPES, Tensor
from isthmus.config import Config
from isthmus.gateway.errors import http_status  # the status each error answers with (the error table)
from tests.conftest import free_port
from tests.servers.tfserving_grpc import Model

CTX = CallContext("public", "rid-1", {"traceparent": "00-abc-01", "Bad Header": "x", "x-key-bin": "y"})


def backend(**doc):
    doc = {"name": "tfs", "protocol": "tfserving-grpc", **doc}
    return build_backend(Config.model_validate({"backends": [doc]}).backends[0])


async def started(**doc):
    b = backend(**doc)
    await b.start()
    return b


def tensors(*named):
    """``tensors(("x", "FP32", [[1, 2]]), ...)`` -> an InferRequest of those V2 inputs."""
    return InferRequest(inputs=tuple(Tensor(n, dt, np.asarray(d, dtype=DATATYPES[dt])) for n, dt, d in named))


def as_dict(resp):
    return {t.name: (t.datatype, t.shape, t.data.tolist()) for t in resp.outputs}


async def test_single_input_one_output_and_model_spec(tfs_grpc):
    model = Model("half_plus", offset=0.5)
    b = await started(endpoints=[await tfs_grpc(model)], model="half_plus")
    try:
        resp = await b.infer(tensors(("x", "FP32", [[1, 2], [3, 4]])), CTX)
        assert as_dict(resp) == {"x": ("FP32", (2, 2), [[2.5, 4.5], [6.5, 8.5]])}
        spec = model.calls[0].model_spec
        assert spec.name == "half_plus" and not spec.HasField("version") and spec.signature_name == ""
        assert model.calls[0].inputs["x"].tensor_content  # numeric tensors go as raw bytes
    finally:
        await b.close()


async def test_v1_instances_get_the_configured_input_name(tfs_grpc):
    model = Model("m", renames={"in": "out"})
    b = await started(endpoints=[await tfs_grpc(model)], model="m", tensors={"input_name": "in", "datatype": "FP64"})
    try:
        resp = await b.infer(InferRequest(instances=[[1, 2], [3, 4]]), CTX)
        assert as_dict(resp) == {"out": ("FP64", (2, 2), [[2.0, 4.0], [6.0, 8.0]])}
        assert list(model.calls[0].inputs) == ["in"]
    finally:
        await b.close()


async def test_several_inputs_map_by_name_and_outputs_keep_their_dtype(tfs_grpc):
    model = Model("m", typed_outputs=True)  # answers in the typed *_val fields
    b = await started(endpoints=[await tfs_grpc(model)], model="m")
    try:
        resp = await b.infer(tensors(("b", "INT64", [[1], [2]]), ("a", "FP32", [5])), CTX)
        assert as_dict(resp) == {"a": ("FP32", (1,), [10.0]), "b": ("INT64", (2, 1), [[2], [4]])}
        assert sorted(model.calls[0].inputs) == ["a", "b"]
    finally:
        await b.close()


async def test_requested_outputs_become_the_output_filter(tfs_grpc):
    model = Model("m")
    b = await started(endpoints=[await tfs_grpc(model)], model="m")
    try:
        req = InferRequest(inputs=tensors(("a", "FP32", [1]), ("b", "FP32", [2])).inputs, outputs=("b",))
        assert as_dict(await b.infer(req, CTX)) == {"b": ("FP32", (1,), [4.0])}
        assert list(model.calls[0].output_filter) == ["b"]
        with pytest.raises(BackendRejected, match="output tensor alias not found in signature: nope") as err:
            await b.infer(InferRequest(inputs=req.inputs, outputs=("nope",)), CTX)
        assert err.value.status == 400
    finally:
        await b.close()


async def test_version_and_signature(tfs_grpc):
    target = await tfs_grpc(Model("m", versions=(1, 2), signatures=("serving_default", "predict_v2")))
    latest = await started(endpoints=[target], model="m")
    v1 = await started(endpoints=[f"grpc://{target}"], model="m", version="1", signature_name="predict_v2")
    try:
        assert as_dict(await latest.infer(tensors(("x", "FP32", [1])), CTX))["x"][2] == [102.0]
        assert as_dict(await v1.infer(tensors(("x", "FP32", [1])), CTX))["x"][2] == [2.0]
        bad_sig = await started(endpoints=[target], model="m", signature_name="nope")
        with pytest.raises(BackendRejected, match='Serving signature name: "nope" not found') as err:
            await bad_sig.infer(tensors(("x", "FP32", [1])), CTX)
        assert err.value.status == 400
        await bad_sig.close()
    finally:
        await latest.close()
        await v1.close()


async def test_unknown_model_and_version_are_404(tfs_grpc):
    target = await tfs_grpc(Model("m"))
    for doc in ({"model": "other"}, {"model": "m", "version": "9"}):
        b = await started(endpoints=[target], **doc)
        with pytest.raises(BackendRejected, match="Servable not found for request") as err:
            await b.infer(tensors(("x", "FP32", [1])), CTX)
        assert err.value.status == 404 and not err.value.fallback_ok
        assert not await b.ready("public")
        await b.close()


async def test_bad_tensor_is_invalid_argument(tfs_grpc):
    b = await started(endpoints=[await tfs_grpc(Model("m"))], model="m")
    try:
        strings = np.empty(1, dtype=object)
        strings[:] = [b"a"]
        with pytest.raises(BackendRejected, match="Expects arg\\[0\\] to be float but BYTES") as err:
            await b.infer(InferRequest(inputs=(Tensor("x", "BYTES", strings),)), CTX)
        assert err.value.status == 400
    finally:
        await b.close()


async def test_untranslatable_request_is_a_codec_error(tfs_grpc):
    b = await started(endpoints=[await tfs_grpc(Model("m"))], model="m")
    try:
        with pytest.raises(CodecError):
            await b.infer(InferRequest(instances=[[1], [1, 2]]), CTX)  # ragged
    finally:
        await b.close()


async def test_ready_reports_available_versions(tfs_grpc):
    target = await tfs_grpc(Model("m", versions=(1, 2)))
    b = await started(endpoints=[target])  # no remote name: the public one
    pinned = await started(endpoints=[target], model="m", version="2")
    try:
        assert await b.ready("m") and not await b.ready("other")
        assert await pinned.ready("public")
        md = await b.metadata("m")  # the serving_default SignatureDef, from GetModelMetadata
        assert md == {
            "platform": "tensorflow_savedmodel",
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}],
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, -1]}],
        }
        assert await b.metadata("other") is None  # NOT_FOUND: nothing known
    finally:
        await b.close()
        await pinned.close()


async def test_round_robin_over_endpoints(tfs_grpc):
    one, two = Model("m", offset=0), Model("m", offset=1000)
    b = await started(endpoints=[await tfs_grpc(one), await tfs_grpc(two)], model="m")
    try:
        answers = [as_dict(await b.infer(tensors(("x", "FP32", [1])), CTX))["x"][2][0] for _ in range(4)]
        assert sorted(answers) == [2.0, 2.0, 1002.0, 1002.0] and len(one.calls) == len(two.calls) == 2
    finally:
        await b.close()


async def test_request_id_and_headers_go_as_metadata(tfs_grpc):
    model = Model("m")
    b = await started(endpoints=[await tfs_grpc(model)], model="m")
    try:
        await b.infer(tensors(("x", "FP32", [1])), CTX)
        sent = model.metadata[0]
        assert sent["x-request-id"] == "rid-1" and sent["traceparent"] == "00-abc-01"
        assert "bad header" not in sent and "x-key-bin" not in sent  # not valid as gRPC text metadata
    finally:
        await b.close()


async def test_unreachable_is_unavailable():
    b = await started(endpoints=[f"127.0.0.1:{free_port()}"], model="m", timeout="2s")
    try:
        with pytest.raises(BackendUnavailable) as err:
            await b.infer(tensors(("x", "FP32", [1])), CTX)
        assert http_status(err.value) == 503 and err.value.fallback_ok
        assert not await b.ready("m")
    finally:
        await b.close()


async def test_deadline_is_the_backend_timeout(tfs_grpc):
    b = await started(endpoints=[await tfs_grpc(Model("m", delay=1.0))], model="m", timeout="100ms")
    try:
        with pytest.raises(BackendTimeout) as err:
            await b.infer(tensors(("x", "FP32", [1])), CTX)
        assert http_status(err.value) == 504
    finally:
        await b.close()


async def test_other_codes_are_failures(tfs_grpc):
    import grpc

    b = await started(endpoints=[await tfs_grpc(Model("m", fail=grpc.StatusCode.INTERNAL))], model="m")
    try:
        with pytest.raises(BackendFailed, match="INTERNAL: injected failure") as err:
            await b.infer(tensors(("x", "FP32", [1])), CTX)
        assert http_status(err.value) == 502 and err.value.fallback_ok
    finally:
        await b.close()


async def test_undecodable_answer_is_a_failure(tfs_grpc):
    b = await started(endpoints=[await tfs_grpc(Model("m", bad_output=True))], model="m")
    try:
        with pytest.raises(BackendFailed, match="bad response: output 'complex': DT_COMPLEX64 is not supported") as err:
            await b.infer(tensors(("x", "FP32", [1])), CTX)
        assert http_status(err.value) == 502
    finally:
        await b.close()


def test_endpoint_forms():
    b = backend(endpoints=["grpc://tfs.models.svc:8500", "10.0.0.1:8500", "[::1]:8500"])
    assert b.targets == ["tfs.models.svc:8500", "10.0.0.1:8500", "[::1]:8500"]
    assert b.config.endpoints[1] == "grpc://10.0.0.1:8500"
    assert orjson.loads(b.config.model_dump_json())["signature_name"] is None
