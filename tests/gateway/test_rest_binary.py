"""The REST V2 ingress with the binary tensor data extension and content codings, called with the official
client (tritonclient.http, sync and asyncio) and raw HTTP, over scriptable backends that echo what they get."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import numpy as np
import orjson
import pytest
import tritonclient.http as th
import tritonclient.http.aio as tha

from isthmus.backends.fake import FakeBackend
from isthmus.codecs import InferRequest, InferResponse, Tensor, TensorNaming
from isthmus.codecs.convert import request_tensors

CONFIG = {
    "listener": {"address": "127.0.0.1:0", "max_body_size": "64KiB"},
    "backends": [{"name": "echo", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"]}],
    "routes": [{"model": "echo", "variants": [{"backend": "echo", "weight": 1}], "cache": {"enabled": True}}],
}


def echo(request: InferRequest, ctx) -> InferResponse:
    """Every input back as an output named ``out-<name>``; a classification output parameter is honoured
    as Triton does: the top-k values as "value:index" strings."""
    outputs = []
    for t in request_tensors(request, TensorNaming()):  # V1 instances too
        name = f"out-{t.name}"
        k = request.output_parameters.get(name, {}).get("classification")
        if k:
            flat = t.data.reshape(-1)
            top = np.argsort(-flat)[:k]
            outputs.append(Tensor(name, "BYTES", np.array([f"{str(flat[i])}:{i}".encode() for i in top], dtype=object)))
        else:
            outputs.append(Tensor(name, t.datatype, t.data))
    return InferResponse(outputs=tuple(outputs), id=request.id)


@pytest.fixture
async def server(gateway):
    backend = FakeBackend("echo", echo)
    srv = await gateway(CONFIG, backends={"echo": backend})
    srv.backend = backend
    return srv


def host(server) -> str:
    return server.url.split("://", 1)[1]


def infer_input(name: str, arr: np.ndarray, datatype: str, binary: bool = True) -> th.InferInput:
    i = th.InferInput(name, list(arr.shape), datatype)
    i.set_data_from_numpy(arr, binary_data=binary)
    return i


async def sync_infer(server, *args, **kwargs):
    """The blocking client, in a thread (the gateway runs on this test's event loop)."""

    def call():
        client = th.InferenceServerClient(host(server))
        try:
            return client.infer(*args, **kwargs)
        finally:
            client.close()

    return await asyncio.to_thread(call)


STRINGS = np.array([[b"hello", b"\xff\x00\xfe not utf-8"], [b"", "żółw".encode()]], dtype=object)


async def test_bytes_tensors_binary_in_and_out_with_the_clients_defaults(server):
    result = await sync_infer(server, "echo", [infer_input("s", STRINGS, "BYTES")])
    got = result.as_numpy("out-s")
    assert got.shape == (2, 2) and got.reshape(-1).tolist() == STRINGS.reshape(-1).tolist()
    out = result.get_output("out-s")
    assert out["parameters"]["binary_data_size"] == sum(4 + len(b) for b in STRINGS.reshape(-1))
    (request, _) = server.backend.calls[-1]
    assert request.inputs[0].data.reshape(-1).tolist() == STRINGS.reshape(-1).tolist()
    assert request.raw_v2 is None and request.inputs[0].parameters == {}
    # bytes that are not UTF-8 cannot be held by the cache's JSON entries: answered, just not stored
    again = await sync_infer(server, "echo", [infer_input("s", STRINGS, "BYTES")])
    assert again.as_numpy("out-s").reshape(-1).tolist() == STRINGS.reshape(-1).tolist()
    assert len(server.backend.calls) == 2


async def test_fp16_binary_in_and_out(server):
    x = np.array([[0.5, -1.5, 65504.0]], dtype=np.float16)
    result = await sync_infer(server, "echo", [infer_input("h", x, "FP16")], outputs=[th.InferRequestedOutput("out-h")])
    got = result.as_numpy("out-h")
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, x)


async def test_several_inputs_and_outputs_mixing_binary_and_json(server):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.array([[1.25, -2.5]], dtype=np.float32)
    c = np.array([True, False, True])
    inputs = [infer_input("a", a, "INT32"), infer_input("b", b, "FP32", binary=False), infer_input("c", c, "BOOL")]
    outputs = [th.InferRequestedOutput("out-a", binary_data=False), th.InferRequestedOutput("out-b"),
               th.InferRequestedOutput("out-c", binary_data=False)]
    result = await sync_infer(server, "echo", inputs, outputs=outputs, request_id="r-7")
    np.testing.assert_array_equal(result.as_numpy("out-a"), a)
    np.testing.assert_array_equal(result.as_numpy("out-b"), b)
    np.testing.assert_array_equal(result.as_numpy("out-c"), c)
    doc = result.get_response()
    assert doc["id"] == "r-7"
    assert {o["name"]: ("data" in o) for o in doc["outputs"]} == {"out-a": True, "out-b": False, "out-c": True}


async def test_json_inputs_and_outputs_with_the_client(server):
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    result = await sync_infer(server, "echo", [infer_input("x", x, "FP32", binary=False)],
                              outputs=[th.InferRequestedOutput("out-x", binary_data=False)])
    assert result.get_response()["outputs"][0]["data"] == [1.0, 2.0]
    (request, _) = server.backend.calls[-1]
    assert request.raw_v2 is None  # it said binary_data: false: re-encoded, never the app's wire form


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
async def test_compressed_requests_and_answers_with_the_client(server, algorithm):
    x = np.linspace(0, 1, 1000, dtype=np.float32)[None]
    result = await sync_infer(server, "echo", [infer_input("x", x, "FP32")], request_compression_algorithm=algorithm,
                              response_compression_algorithm=algorithm)
    np.testing.assert_array_equal(result.as_numpy("out-x"), x)


async def test_the_asyncio_client_binary_and_compressed(server):
    client = tha.InferenceServerClient(host(server))
    try:
        s = tha.InferInput("s", [2, 2], "BYTES")
        s.set_data_from_numpy(STRINGS)
        x = tha.InferInput("x", [1, 300], "FP32")
        x.set_data_from_numpy(np.arange(300, dtype=np.float32)[None])
        result = await client.infer("echo", [s, x], request_compression_algorithm="gzip",
                                    response_compression_algorithm="gzip")
        assert result.as_numpy("out-s").reshape(-1).tolist() == STRINGS.reshape(-1).tolist()
        np.testing.assert_array_equal(result.as_numpy("out-x"), np.arange(300, dtype=np.float32)[None])
    finally:
        await client.close()


async def test_classification_is_passed_on_and_never_answered_from_the_plain_entry(server):
    """Issue #12: {"classification": 2} was answered from the cache with the plain tensor of an earlier request."""
    x = np.array([[0.1, 0.9, 0.5]], dtype=np.float32)
    plain = await sync_infer(server, "echo", [infer_input("x", x, "FP32")], outputs=[th.InferRequestedOutput("out-x")])
    np.testing.assert_array_equal(plain.as_numpy("out-x"), x)
    classified = await sync_infer(server, "echo", [infer_input("x", x, "FP32")],
                                  outputs=[th.InferRequestedOutput("out-x", class_count=2)])
    assert classified.as_numpy("out-x").tolist() == [b"0.9:1", b"0.5:2"]
    assert server.backend.calls[-1][0].output_parameters == {"out-x": {"classification": 2}}
    assert len(server.backend.calls) == 2  # both reached the backend
    again = await sync_infer(server, "echo", [infer_input("x", x, "FP32", binary=False)],
                             outputs=[th.InferRequestedOutput("out-x", class_count=2)])
    assert again.as_numpy("out-x").tolist() == [b"0.9:1", b"0.5:2"] and len(server.backend.calls) == 2  # a hit


# --- raw HTTP: every malformed body, and the codings ---------------------------------------------


async def post(http, server, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    async with http.post(server.url + "/v2/models/echo/infer", data=body, headers=headers, auto_decompress=False) as r:
        return r.status, dict(r.headers), await r.read()


def binary_request(doc: dict, *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    header = orjson.dumps(doc)
    return header + b"".join(chunks), {"Inference-Header-Content-Length": str(len(header))}


def fp32_input(size: int, shape: list[int], **extra) -> dict:
    return {"name": "x", "datatype": "FP32", "shape": shape, "parameters": {"binary_data_size": size}, **extra}


F4 = np.arange(2, dtype=np.float32).tobytes()


@pytest.mark.parametrize(
    "doc, chunks, header, message",
    [
        ({"inputs": [fp32_input(8, [2])]}, [F4, b"!"], None, "inputs' 'binary_data_size' add up to 8"),
        ({"inputs": [fp32_input(12, [3])]}, [F4], None, "'binary_data_size' is 12 bytes but only 8 bytes"),
        ({"inputs": [fp32_input(8, [3])]}, [F4], None, "binary data has 8 bytes but shape [3] of FP32 needs 12"),
        ({"inputs": [fp32_input(8, [2], data=[1, 2])]}, [F4], None, "has both 'data' and 'binary_data_size'"),
        ({"inputs": [fp32_input(8, [2])]}, [F4], "100000", "Inference-Header-Content-Length is 100000 but the body"),
        ({"inputs": [fp32_input(8, [2])]}, [F4], "abc", "must be a number of bytes, got 'abc'"),
        ({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}]},
         [b"\x09\0\0\0ab"], None, "BYTES element 0 claims 9 bytes but only 2 remain"),
    ],
)
async def test_malformed_binary_bodies_are_400s_naming_the_problem(server, http, doc, chunks, header, message):
    body, headers = binary_request(doc, *chunks)
    if header is not None:
        headers["Inference-Header-Content-Length"] = header
    status, _, answer = await post(http, server, body, headers)
    assert status == 400 and message in orjson.loads(answer)["error"]
    assert not server.backend.calls


async def test_binary_data_size_without_the_header_is_a_400(server, http):
    status, _, answer = await post(http, server, orjson.dumps({"inputs": [fp32_input(8, [2])]}), {})
    assert status == 400 and "no Inference-Header-Content-Length header" in orjson.loads(answer)["error"]


async def test_binary_answer_has_its_header_and_content_type(server, http):
    body, headers = binary_request({"inputs": [fp32_input(8, [2])], "parameters": {"binary_data_output": True}}, F4)
    status, answer_headers, answer = await post(http, server, body, headers)
    assert status == 200 and answer_headers["Content-Type"] == "application/octet-stream"
    n = int(answer_headers["Inference-Header-Content-Length"])
    doc = orjson.loads(answer[:n])
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 8} and answer[n:] == F4


async def test_a_gzip_bomb_is_a_413_and_the_connection_goes_on(server, http):
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(c.compress(bytes(1 << 20)) for _ in range(64)) + c.flush()  # 64 MiB of zeros; limit 64 KiB
    assert len(bomb) < 64 * 1024
    status, _, answer = await post(http, server, bomb, {"Content-Encoding": "gzip"})
    assert status == 413 and "once decompressed (gzip)" in orjson.loads(answer)["error"]
    ok = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]})
    status, _, _ = await post(http, server, gzip.compress(ok), {"Content-Encoding": "gzip"})
    assert status == 200


async def test_an_unsupported_content_encoding_is_a_415_naming_it(server, http):
    status, _, answer = await post(http, server, b"xx", {"Content-Encoding": "br"})
    assert status == 415 and "unsupported Content-Encoding 'br'" in orjson.loads(answer)["error"]


async def test_a_gzip_body_is_no_longer_a_utf8_error(server, http):
    ok = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [3]}]})
    status, _, answer = await post(http, server, gzip.compress(ok), {"Content-Encoding": "gzip"})
    assert status == 200 and orjson.loads(answer)["outputs"][0]["data"] == [3.0]


@pytest.mark.parametrize("coding, decompress", [("gzip", gzip.decompress), ("deflate", zlib.decompress)])
async def test_answers_are_compressed_only_when_asked_and_worth_it(server, http, coding, decompress):
    big = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [500], "data": [0.5] * 500}]})
    status, headers, answer = await post(http, server, big, {"Accept-Encoding": coding})
    assert status == 200 and headers["Content-Encoding"] == coding and headers["Vary"] == "Accept-Encoding"
    assert orjson.loads(decompress(answer))["outputs"][0]["data"] == [0.5] * 500
    assert len(answer) < len(decompress(answer)) // 4
    status, headers, answer = await post(http, server, big, {"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in headers and orjson.loads(answer)["outputs"][0]["data"] == [0.5] * 500
    small = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]})
    status, headers, answer = await post(http, server, small, {"Accept-Encoding": coding})
    assert "Content-Encoding" not in headers and orjson.loads(answer)["outputs"][0]["data"] == [1.0]


async def test_v1_answers_are_compressed_when_asked_too(server, http):
    body = orjson.dumps({"instances": [[0.25] * 300]})
    async with http.post(server.url + "/v1/models/echo:predict", data=body, headers={"Accept-Encoding": "gzip"},
                         auto_decompress=False) as r:
        assert r.status == 200 and r.headers["Content-Encoding"] == "gzip"
        assert orjson.loads(gzip.decompress(await r.read())) == {"predictions": [[0.25] * 300]}


async def test_metadata_is_never_compressed_for_the_asyncio_clients_sake(server):
    """tritonclient.http.aio sends aiohttp's default Accept-Encoding with decompression off, and reads
    Content-Encoding on inference answers only."""
    client = tha.InferenceServerClient(host(server))
    try:
        assert (await client.get_model_metadata("echo"))["name"] == "echo"
        assert "binary_tensor_data" in (await client.get_server_metadata())["extensions"]
    finally:
        await client.close()
