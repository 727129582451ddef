"""The local ONNX Runtime backend: providers, warm-up, inference off the loop, input checks."""

import asyncio
import threading

import numpy as np
import orjson
import pytest

from isthmus.backends import CallContext, build_backend
from isthmus.backends.onnx_providers import (
    CPU,
    CUDA,
    TENSORRT,
    DeviceUnavailable,
    choose_providers,
    verify_active,
)
from isthmus.codecs import CodecError, InferRequest, v2
from isthmus.config import Config
from tests.conftest import v2_body

CTX = CallContext("m", "rid")


def onnx_backend(path, **extra):
    cfg = Config.model_validate({"backends": [{"name": "local", "protocol": "onnx", "model_path": str(path), **extra}]})
    return build_backend(cfg.backends[0])


def test_provider_choice():
    assert choose_providers("auto", [CPU]) == [CPU]
    assert choose_providers("auto", [TENSORRT, CUDA, CPU]) == [TENSORRT, CUDA, CPU]
    assert choose_providers("cuda", [CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers("cpu", [CUDA, CPU]) == [CPU]
    with pytest.raises(DeviceUnavailable, match="needs CUDAExecutionProvider"):
        choose_providers("cuda", [CPU])


def test_silent_cpu_fallback_is_detected():
    verify_active("cuda", [CUDA, CPU])
    verify_active("auto", [CPU])
    with pytest.raises(DeviceUnavailable, match="running on \\['CPUExecutionProvider'\\]"):
        verify_active("cuda", [CPU])


async def test_cuda_requested_on_a_cpu_build_refuses_to_start(onnx_models):
    import onnxruntime

    if CUDA in onnxruntime.get_available_providers():
        pytest.skip("this machine has a CUDA-enabled onnxruntime")
    b = onnx_backend(onnx_models["double"], device="cuda")
    with pytest.raises(DeviceUnavailable):
        await b.start()
    await b.close()


async def test_inference_runs_in_the_pool_not_on_the_loop(onnx_models):
    b = onnx_backend(onnx_models["double100"], device="auto")
    await b.start()
    assert b.providers == [CPU]
    threads = []
    real = b._session.run

    def spy(*args):
        threads.append(threading.current_thread().name)
        return real(*args)

    b._session.run = spy
    try:
        r = await b.infer(v2.decode_request(orjson.dumps(v2_body([1, 2, 3], [1, 3]))), CTX)
    finally:
        await b.close()
    np.testing.assert_array_equal(r.outputs[0].data, [[102, 104, 106]])
    assert threads and threads[0].startswith("onnx-local") and threads[0] != threading.main_thread().name


async def test_v1_instances_feed_the_single_input_and_v2_inputs_bind_by_name_only(onnx_models):
    b = onnx_backend(onnx_models["double"])
    await b.start()
    try:
        r = await b.infer(InferRequest(instances=[[1, 2]]), CTX)
        np.testing.assert_array_equal(r.outputs[0].data, [[2, 4]])
        r = await b.infer(v2.decode_request(orjson.dumps(v2_body([5], [1, 1], name="input-0"))), CTX)
        assert r.outputs[0].data.tolist() == [[10.0]]
        for name in ("x", "../../etc/passwd", "input-0 ", "INPUT-0"):  # a single input is no longer bound by position
            with pytest.raises(CodecError) as err:
                await b.infer(v2.decode_request(orjson.dumps(v2_body([5], [1, 1], name=name))), CTX)
            assert str(err.value) == f"unknown input {name!r} (model '{CTX.model}' has inputs: input-0)"
        md = await b.metadata("m")
        assert md["platform"] == "onnxruntime_onnx"
        assert md["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, -1]}]
        assert md["outputs"] == [{"name": "output-0", "datatype": "FP32", "shape": [-1, -1]}]
    finally:
        await b.close()


@pytest.mark.parametrize(
    "body, message",
    [
        (v2_body([1], [1, 1], datatype="INT32"), "must be FP32, got INT32"),
        (v2_body([1, 2], [2]), "must have shape [-1, -1]"),
        ({**v2_body([1], [1, 1]), "outputs": [{"name": "nope"}]}, "unknown output 'nope'"),
    ],
)
async def test_bad_inputs(onnx_models, body, message):
    b = onnx_backend(onnx_models["double"])
    await b.start()
    try:
        with pytest.raises(CodecError, match=message.replace("[", "\\[").replace("]", "\\]")):
            await b.infer(v2.decode_request(orjson.dumps(body)), CTX)
    finally:
        await b.close()


async def test_calls_beyond_the_queue_are_refused_not_piled_up(onnx_models):
    import time

    from isthmus.backends import BackendUnavailable

    b = onnx_backend(onnx_models["double"], max_queue=2, timeout="5s")
    await b.start()
    real = b._run
    b._run = lambda *a: (time.sleep(0.3), real(*a))[1]  # a slow model
    req = v2.decode_request(orjson.dumps(v2_body([1.0], [1, 1])))
    try:
        results = await asyncio.gather(*(b.infer(req, CTX) for _ in range(4)), return_exceptions=True)
    finally:
        await b.close()
    refused = [r for r in results if isinstance(r, BackendUnavailable)]
    assert len(refused) == 2 and "overloaded" in str(refused[0])
    assert sum(1 for r in results if not isinstance(r, Exception)) == 2
