"""What a kserve-v2 backend puts on the wire for a request that came in binary: JSON by default (the
app's binary body is never forwarded as if it were JSON), binary tensor data with ``binary_inputs``;
the requested outputs' parameters go along, the wire-form ones do not."""

from __future__ import annotations

import numpy as np
import orjson
from aiohttp import web

from isthmus.backends import CallContext, build_backend
from isthmus.codecs import v2_binary
from isthmus.config import Config

CTX = CallContext("public", "rid-1")
ANSWER = {"model_name": "m", "outputs": [{"name": "y", "datatype": "FP32", "shape": [1], "data": [1.0]}]}


def recording_app(seen: list) -> web.Application:
    async def infer(request: web.Request) -> web.Response:
        seen.append((request.headers.copy(), await request.read()))  # case-insensitive
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/v2/models/m/infer", infer)
    return app


def app_request():
    x = np.array([[1.5, -2.0]], np.float16)
    header = orjson.dumps({
        "inputs": [{"name": "x", "datatype": "FP16", "shape": [1, 2], "parameters": {"binary_data_size": 4}},
                   {"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]}],
        "outputs": [{"name": "y", "parameters": {"binary_data": True, "classification": 2}}],
        "parameters": {"binary_data_output": True, "priority": 3},
    })
    return v2_binary.decode_request(header + x.tobytes(), str(len(header))), x


async def call(serve_app, **extra):
    seen: list = []
    url = await serve_app(recording_app(seen))
    cfg = Config.model_validate({"backends": [{"name": "b", "protocol": "kserve-v2", "endpoints": [url],
                                               "model": "m", **extra}]}).backends[0]
    b = build_backend(cfg)
    await b.start()
    try:
        request, x = app_request()
        resp = await b.infer(request, CTX)
    finally:
        await b.close()
    assert resp.v2_outputs == ANSWER["outputs"]
    (headers, body), = seen
    return headers, body, x


async def test_by_default_a_binary_request_goes_on_as_json_without_the_wire_form_parameters(serve_app):
    headers, body, x = await call(serve_app)
    assert headers["Content-Type"] == "application/json" and "Inference-Header-Content-Length" not in headers
    doc = orjson.loads(body)
    assert doc["inputs"][0] == {"name": "x", "datatype": "FP16", "shape": [1, 2], "data": x.reshape(-1).tolist()}
    assert doc["outputs"] == [{"name": "y", "parameters": {"classification": 2}}]
    assert doc["parameters"] == {"priority": 3}


async def test_binary_inputs_sends_every_input_as_binary_tensor_data(serve_app):
    headers, body, x = await call(serve_app, binary_inputs=True)
    assert headers["Content-Type"] == "application/octet-stream"
    n = int(headers["inference-header-content-length"])
    doc = orjson.loads(body[:n])
    assert doc["inputs"] == [
        {"name": "x", "datatype": "FP16", "shape": [1, 2], "parameters": {"binary_data_size": 4}},
        {"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}},
    ]
    assert body[n:] == x.tobytes() + b"\x02\x00\x00\x00hi"
    assert doc["outputs"] == [{"name": "y", "parameters": {"classification": 2}}]  # answers asked for in JSON
    assert doc["parameters"] == {"priority": 3}
    assert headers["x-request-id"] == "rid-1"


def test_binary_inputs_is_only_for_kserve_v2():
    from isthmus.config.checks import check

    problems = list(check({"backends": [{"name": "b", "protocol": "kserve-v1", "endpoints": ["http://h"],
                                         "binary_inputs": True}]}, base_dir=None))
    assert (("backends", 0, "binary_inputs"), "only kserve-v2 backends take binary tensor data over REST") in problems
