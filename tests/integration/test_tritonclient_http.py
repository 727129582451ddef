"""tritonclient.http, with its defaults (binary tensors), against `isthmus demo` as a real process and
against routes to the real KServe and MLServer peers: binary and JSON, gzip and deflate both ways,
the asyncio client too."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import urllib.request

import numpy as np
import orjson
import pytest
import tritonclient.http as th
import tritonclient.http.aio as tha

from tests.conftest import free_port
from tests.integration.peers import kserve_peer, mlserver_peer  # noqa: F401
from tests.integration.test_cli_processes import wait_ready

# x*2, whatever the 90/10 split draws. A fresh dict per call: tritonclient writes its own headers
# (Inference-Header-Content-Length, Content-Encoding) into the dict it is given, and they would stay
# for the next call.
PIN = {"x-isthmus-variant": "demo-v1"}


def fp32_input(x: np.ndarray, binary: bool = True, mod=th) -> th.InferInput:
    i = mod.InferInput("input-0", list(x.shape), "FP32")
    i.set_data_from_numpy(x, binary_data=binary)
    return i


@pytest.fixture
def demo(process):
    port = free_port()
    proc = process("demo", "--port", str(port))
    wait_ready(proc, f"http://127.0.0.1:{port}/v2/health/ready")
    yield f"127.0.0.1:{port}"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=10)
    assert proc.returncode == 0


X = np.array([[0.5, -1.25, 3.0, 8.0]], dtype=np.float32)


def test_demo_with_the_clients_defaults_and_every_variation(demo):
    client = th.InferenceServerClient(demo)
    try:
        # defaults: binary input, no outputs named -> binary_data_output: every output binary
        result = client.infer("demo", [fp32_input(X)], headers=dict(PIN))
        np.testing.assert_array_equal(result.as_numpy("output-0"), X * 2)
        assert result.get_output("output-0")["parameters"] == {"binary_data_size": 16}
        out = th.InferRequestedOutput("output-0")  # binary_data=True by default
        for kwargs in ({}, {"request_compression_algorithm": "gzip"}, {"request_compression_algorithm": "deflate"},
                       {"response_compression_algorithm": "gzip"}, {"response_compression_algorithm": "deflate"}):
            result = client.infer("demo", [fp32_input(X)], outputs=[out], headers=dict(PIN), **kwargs)
            np.testing.assert_array_equal(result.as_numpy("output-0"), X * 2)
        # JSON both ways
        result = client.infer("demo", [fp32_input(X, binary=False)],
                              outputs=[th.InferRequestedOutput("output-0", binary_data=False)], headers=dict(PIN))
        assert result.get_output("output-0")["data"] == (X * 2).reshape(-1).tolist()
        # binary in, JSON out, gzip both ways
        result = client.infer("demo", [fp32_input(X)], outputs=[th.InferRequestedOutput("output-0", binary_data=False)],
                              headers=dict(PIN), request_compression_algorithm="gzip", response_compression_algorithm="gzip")
        assert result.get_output("output-0")["data"] == (X * 2).reshape(-1).tolist()
    finally:
        client.close()


def test_demo_answers_compressed_when_asked(demo):
    x = np.linspace(-1, 1, 512, dtype=np.float32)[None]
    header = orjson.dumps({"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 512],
                                       "parameters": {"binary_data_size": x.nbytes}}],
                           "parameters": {"binary_data_output": True}})
    req = urllib.request.Request(f"http://{demo}/v2/models/demo/infer", data=gzip.compress(header + x.tobytes()),
                                 method="POST", headers={**PIN, "Inference-Header-Content-Length": str(len(header)),
                                                         "Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Content-Type"] == "application/octet-stream"
        body, length = r.read(), r.headers["Inference-Header-Content-Length"]
    assert len(body) < x.nbytes  # it was compressed
    result = th.InferResult.from_response_body(body, header_length=int(length), content_encoding="gzip")
    np.testing.assert_array_equal(result.as_numpy("output-0"), x * 2)


async def test_demo_with_the_asyncio_client(demo):
    client = tha.InferenceServerClient(demo)
    try:
        result = await client.infer("demo", [fp32_input(X, mod=tha)], headers=dict(PIN),
                                    request_compression_algorithm="deflate", response_compression_algorithm="gzip")
        np.testing.assert_array_equal(result.as_numpy("output-0"), X * 2)
    finally:
        await client.close()


# --- routes to the real KServe and MLServer peers -------------------------------------------------

OFFSETS = {"kserve": 0.0, "kserve-binary": 0.0, "mlserver": 100.0}


@pytest.fixture
async def peers_gateway(gateway, kserve_peer, mlserver_peer):  # noqa: F811
    backends = [
        {"name": "kserve", "model": "double", "protocol": "kserve-v2", "endpoints": [kserve_peer.url]},
        {"name": "kserve-binary", "model": "double", "protocol": "kserve-v2", "endpoints": [kserve_peer.url],
         "binary_inputs": True},
        {"name": "mlserver", "model": "double", "protocol": "kserve-v2", "endpoints": [mlserver_peer.url]},
    ]
    routes = [{"model": "double", "variants": [{"backend": b["name"], "weight": 1} for b in backends],
               "override_header": "x-variant"}]
    server = await gateway({"backends": backends, "routes": routes})
    return server.url.split("://", 1)[1]


@pytest.mark.peers
@pytest.mark.parametrize("backend", list(OFFSETS))
async def test_peers_with_the_clients_defaults_binary_json_and_compressed(peers_gateway, backend):
    x = np.array([[0.5, -1.25, 3.0], [4.0, 1e3, -7.5]], dtype=np.float32)
    want = x * np.float32(2) + np.float32(OFFSETS[backend])
    headers = {"x-variant": backend}

    def calls():
        client = th.InferenceServerClient(peers_gateway)
        try:
            got = []
            result = client.infer("double", [fp32_input(x)], headers=dict(headers))
            got.append(result.as_numpy("output-0"))
            result = client.infer("double", [fp32_input(x, binary=False)], headers=dict(headers),
                                  outputs=[th.InferRequestedOutput("output-0", binary_data=False)])
            got.append(np.asarray(result.get_output("output-0")["data"], np.float32).reshape(2, 3))
            for algorithm in ("gzip", "deflate"):
                result = client.infer("double", [fp32_input(x)], headers=dict(headers),
                                      outputs=[th.InferRequestedOutput("output-0")],
                                      request_compression_algorithm=algorithm, response_compression_algorithm=algorithm)
                got.append(result.as_numpy("output-0"))
            return got
        finally:
            client.close()

    for got in await asyncio.to_thread(calls):
        np.testing.assert_array_equal(got, want)
    client = tha.InferenceServerClient(peers_gateway)
    try:
        result = await client.infer("double", [fp32_input(x, mod=tha)], headers=dict(headers))
        np.testing.assert_array_equal(result.as_numpy("output-0"), want)
    finally:
        await client.close()


@pytest.mark.peers
async def test_which_peers_take_binary_tensor_data_themselves(kserve_peer, mlserver_peer):  # noqa: F811
    """Why binary_inputs is a per-backend choice that defaults to JSON: KServe reads binary tensor data,
    MLServer refuses it (so the gateway sends it JSON)."""
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    header = orjson.dumps({"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 2],
                                       "parameters": {"binary_data_size": 8}}]})

    def status(url):
        req = urllib.request.Request(url + "/v2/models/double/infer", data=header + x.tobytes(), method="POST",
                                     headers={"Inference-Header-Content-Length": str(len(header)),
                                              "Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, orjson.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    kserve_status, answer = await asyncio.to_thread(status, kserve_peer.url)
    assert kserve_status == 200 and answer["outputs"][0]["data"] == [2.0, 4.0]
    mlserver_status, _ = await asyncio.to_thread(status, mlserver_peer.url)
    assert mlserver_status >= 400  # 500 with Content-Type application/octet-stream, 422 without one
