"""The extensions through `isthmus demo` (a real process, local ONNX Runtime), called with the
official clients: tritonclient.grpc and tritonclient.http (config, repository index, statistics
with exact counts, unimplemented calls), KServe V1's `GET /` and `GET /v1/models`, `:explain`'s 501."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Iterator

import numpy as np
import pytest
import tritonclient.grpc as tg
import tritonclient.http as th
from tritonclient.utils import InferenceServerException

from tests.conftest import free_port
from tests.integration.test_cli_processes import wait_ready
from tests.processes import isthmus_argv, start_process


class Demo:
    def __init__(self, port: int, grpc_port: int):
        self.url, self.grpc = f"127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    port, grpc_port = free_port(), free_port()
    proc = start_process(isthmus_argv("demo", "--port", str(port), "--grpc-port", str(grpc_port)), name="demo")
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/v2/health/ready", timeout=60)
        yield Demo(port, grpc_port)
    finally:
        assert proc.stop(grace=15) == 0, proc.describe()
    out = proc.output()
    assert "Traceback" not in out, out  # no call of this module logged an ERROR traceback


def grpc_input(x: np.ndarray) -> tg.InferInput:
    inp = tg.InferInput("input-0", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return inp


def http_input(x: np.ndarray) -> th.InferInput:
    inp = th.InferInput("input-0", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=False)
    return inp


def test_model_config_over_grpc_and_http(demo):
    with tg.InferenceServerClient(demo.grpc) as client:
        assert list(client.get_server_metadata().extensions) == ["model_configuration", "statistics"]
        config = client.get_model_config("demo", as_json=True)["config"]
        v2 = client.get_model_config("demo", "2").config
    assert config["name"] == "demo" and config["backend"] == "onnx"
    assert config["version_policy"] == {"specific": {"versions": ["1", "2"]}}  # int64 as JSON strings (proto mapping)
    assert [(t["name"], t["data_type"]) for t in config["input"]] == [("input-0", "TYPE_FP32")]
    assert [(t["name"], t["data_type"]) for t in config["output"]] == [("output-0", "TYPE_FP32")]
    assert config["parameters"]["isthmus.variant.demo-v1"]["string_value"] == "protocol=onnx weight=90 version=1"
    assert list(v2.version_policy.specific.versions) == [2] and v2.max_batch_size == 0
    with th.InferenceServerClient(demo.url) as client:
        doc = client.get_model_config("demo")
        assert doc["version_policy"] == {"specific": {"versions": [1, 2]}}
        assert doc["input"][0]["dims"] == [-1, -1] and doc["max_batch_size"] == 0
        with pytest.raises(InferenceServerException, match="no version '7'"):
            client.get_model_config("demo", "7")


def test_repository_index_over_grpc_and_http(demo):
    expected = [{"name": "demo", "version": "1", "state": "READY", "reason": ""},
                {"name": "demo", "version": "2", "state": "READY", "reason": ""}]
    with th.InferenceServerClient(demo.url) as client:
        assert client.get_model_repository_index() == expected
    with tg.InferenceServerClient(demo.grpc) as client:
        index = client.get_model_repository_index()
        ready_only = client.get_model_repository_index(as_json=True)
    assert [(m.name, m.version, m.state, m.reason) for m in index.models] == [tuple(e.values()) for e in expected]
    assert len(ready_only["models"]) == 2


def stats_of(client, version: str = "") -> dict:
    doc = client.get_inference_statistics("demo", version, as_json=True) if isinstance(client, tg.InferenceServerClient) \
        else client.get_inference_statistics("demo", version)
    (entry,) = doc["model_stats"]
    return entry


def count(entry: dict, field: str) -> int:
    return int(entry["inference_stats"][field].get("count", 0))  # proto JSON leaves out zeros


def test_statistics_count_every_request_exactly(demo):
    with tg.InferenceServerClient(demo.grpc) as gc, th.InferenceServerClient(demo.url) as hc:
        before = stats_of(hc)
        before_v2 = stats_of(hc, "2")
        x, y = np.random.default_rng().random((2, 1, 4), dtype=np.float32)  # fresh tensors: a cache miss first
        pinned = {"x-isthmus-variant": "demo-v2"}
        for _ in range(2):  # a miss, then a hit
            gc.infer("demo", [grpc_input(x)], headers=pinned)
            hc.infer("demo", [http_input(y)], headers=pinned)
        with pytest.raises(InferenceServerException):
            hc.infer("demo", [http_input(x)], headers={"x-isthmus-variant": "nope"})  # 400: a failure
        after, after_grpc = stats_of(hc), stats_of(gc)
        after_v2, after_v1 = stats_of(hc, "2"), stats_of(hc, "1")
    assert after["inference_count"] - before["inference_count"] == 4
    assert after["execution_count"] - before["execution_count"] == 2  # cache hits reach no backend
    assert count(after, "success") - count(before, "success") == 4
    assert count(after, "fail") - count(before, "fail") == 1
    assert count(after, "cache_hit") - count(before, "cache_hit") == 2
    assert count(after, "cache_miss") - count(before, "cache_miss") == 2
    assert after["inference_stats"]["success"]["ns"] > before["inference_stats"]["success"]["ns"]
    assert after["inference_stats"]["queue"] == {"count": 0, "ns": 0}  # not measured
    assert after["last_inference"] >= before["last_inference"] and after["last_inference"] > 1.7e12  # ms since epoch
    # gRPC's answer is the same numbers (int64 as strings in the proto JSON mapping)
    assert int(after_grpc["inference_count"]) == after["inference_count"]
    # per version: the variants of that version; the failed override chose no variant, so no version has it
    assert after_v2["inference_count"] - before_v2["inference_count"] == 4 and after_v2["version"] == "2"
    assert count(after_v2, "fail") == count(before_v2, "fail")
    assert after_v1["inference_count"] + after_v2["inference_count"] == after["inference_count"]


def test_all_models_statistics(demo):
    with th.InferenceServerClient(demo.url) as client:
        doc = client.get_inference_statistics()
    assert [e["name"] for e in doc["model_stats"]] == ["demo"]
    with th.InferenceServerClient(demo.url) as client, pytest.raises(InferenceServerException, match="unknown model"):
        client.get_inference_statistics("nope")


@pytest.mark.parametrize("call", [
    lambda c: c.load_model("demo"),
    lambda c: c.unload_model("demo"),
    lambda c: c.get_system_shared_memory_status(),
    lambda c: c.get_cuda_shared_memory_status(),
    lambda c: c.get_trace_settings(),
    lambda c: c.get_log_settings(),
])
def test_unimplemented_grpc_calls_are_unimplemented(demo, call):
    with tg.InferenceServerClient(demo.grpc) as client, pytest.raises(InferenceServerException) as err:
        call(client)
    assert err.value.status() == "StatusCode.UNIMPLEMENTED"
    assert "Isthmus" in err.value.message()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_kserve_v1_liveness_models_and_explain_501(demo):
    assert get(f"http://{demo.url}/") == (200, {"status": "alive"})
    assert get(f"http://{demo.url}/v1/models") == (200, {"models": ["demo"]})
    req = urllib.request.Request(f"http://{demo.url}/v1/models/demo:explain", data=b'{"instances": [[1, 2, 3, 4]]}',
                                 headers={"x-isthmus-variant": "demo-v1"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 501 and err.value.headers["x-isthmus-backend"] == "demo-v1"
    message = json.loads(err.value.read())["error"]
    assert "demo-v1" in message and "'onnx'" in message and ":explain" in message
