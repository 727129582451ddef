"""Free-form JSON backends (ray-serve with mappings, http-json) against a local JSON model server.

The server here is a stand-in with seed 000's JSON shapes, for this layer alone; the same
deployment on real Ray Serve is in tests/integration/test_ray_seed000.py.
"""

import numpy as np
import orjson
import pytest
from aiohttp import web

from isthmus.backends import BackendFailed, BackendRejected, BackendUnavailable, CallContext, build_backend
from isthmus.codecs import CodecError, InferRequest, v2
from isthmus.codecs.convert import response_predictions, response_tensors
from isthmus.config import Config
from tests.conftest import free_port, v2_body

CTX = CallContext("public", "rid-1")
SEED = {"request": {"inputs": {"input-0": "/input"}}, "response": {"outputs": {"output-0": "/output"}}}


def backend(**doc):
    doc.setdefault("name", "b")
    return build_backend(Config.model_validate({"backends": [doc]}).backends[0])


def seed_app(seen: list) -> web.Application:
    """``{"input": x}`` -> ``{"output": x * 2 + 1.5}``; anything else raises (a 500, as in the article)."""

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, await request.read()))
        if request.method == "GET":
            return web.json_response({"ready": True})
        data = await request.json()
        out = np.asarray(data["input"], dtype=np.float32) * np.float32(2) + np.float32(1.5)
        return web.json_response({"output": out.tolist()})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def v2_request(data, shape=None, name="input-0"):
    return v2.decode_request(orjson.dumps(v2_body(data, shape, name=name)))


async def test_ray_serve_with_a_mapping_speaks_the_deployments_json(serve_app):
    seen: list = []
    b = backend(protocol="ray-serve", endpoints=[await serve_app(seed_app(seen))], route_prefix="/seed", **SEED)
    try:
        r = await b.infer(v2_request([1.0, 2.0, 3.0, 4.5], [2, 2]), CTX)
        v1 = await b.infer(InferRequest(instances=[[1.0], [2.0]]), CTX)
    finally:
        await b.close()
    assert [(m, p) for m, p, _ in seen] == [("POST", "/seed"), ("POST", "/seed")]
    assert orjson.loads(seen[0][2]) == {"input": [[1.0, 2.0], [3.0, 4.5]]}
    (out,) = response_tensors(r)
    assert (out.name, out.datatype) == ("output-0", "FP32")
    np.testing.assert_array_equal(out.data, [[3.5, 5.5], [7.5, 10.5]])
    assert orjson.loads(seen[1][2]) == {"input": [[1.0], [2.0]]}
    assert response_predictions(v1) == [[3.5], [5.5]]


async def test_ray_serve_without_a_mapping_still_sends_instances(serve_app):
    seen: list = []
    b = backend(protocol="ray-serve", endpoints=[await serve_app(seed_app(seen))])
    try:
        with pytest.raises(BackendFailed, match=r"backend 'b' failed: HTTP 500: "):
            await b.infer(v2_request([1.0]), CTX)
    finally:
        await b.close()
    assert orjson.loads(seen[0][2]) == {"instances": [[1.0]]}


async def test_an_input_name_the_mapping_does_not_have_is_the_apps_error(serve_app):
    seen: list = []
    b = backend(protocol="ray-serve", endpoints=[await serve_app(seed_app(seen))], **SEED)
    try:
        with pytest.raises(CodecError, match="unknown input 'x': this model takes 'input-0'"):
            await b.infer(v2_request([1.0], name="x"), CTX)
    finally:
        await b.close()
    assert seen == []  # nothing was sent


async def test_a_pointer_that_misses_is_a_502_naming_the_pointer_and_showing_the_body(serve_app):
    seen: list = []
    b = backend(protocol="ray-serve", endpoints=[await serve_app(seed_app(seen))],
                request=SEED["request"], response={"outputs": {"output-0": "/predictions"}})
    try:
        with pytest.raises(BackendFailed) as err:
            await b.infer(v2_request([1.0]), CTX)
    finally:
        await b.close()
    msg = str(err.value)
    assert "bad response: response of backend 'b' has nothing at /predictions" in msg
    assert "(it has 'output')" in msg and 'the body: {"output":[[3.5]]}' in msg


async def test_http_json_posts_to_its_path_with_the_model_name(serve_app):
    seen: list = []
    url = await serve_app(seed_app(seen))
    b = backend(protocol="http-json", endpoints=[url], path="/models/{model}/predict", model="m1",
                request={"body": {"options": {"fast": True}}, "inputs": {"x": "/data/input"}},
                response={"outputs": {"y": "/output"}}, ready_path="/health/{model}")
    try:
        with pytest.raises(BackendFailed):  # the server wants "input" at the top: KeyError -> 500
            await b.infer(v2_request([1.0], name="x"), CTX)
        assert seen[-1][:2] == ("POST", "/models/m1/predict")
        assert orjson.loads(seen[-1][2]) == {"options": {"fast": True}, "data": {"input": [[1.0]]}}
        assert await b.ready("public") and seen[-1][:2] == ("GET", "/health/m1")
    finally:
        await b.close()


async def test_http_json_readiness(serve_app):
    async def not_found(request):
        return web.json_response({"error": "no"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    url = await serve_app(app)
    plain = backend(protocol="http-json", endpoints=[url], path="/predict")
    probed = backend(protocol="http-json", endpoints=[url], path="/predict", ready_path="/ready")
    down = backend(protocol="http-json", endpoints=[f"http://127.0.0.1:{free_port()}"], path="/predict")
    try:
        assert await plain.ready("m")  # the server answers HTTP: up
        assert not await probed.ready("m")  # its ready path is not 2xx
        assert not await down.ready("m")
    finally:
        for b in (plain, probed, down):
            await b.close()


@pytest.mark.parametrize(
    "status, body, exc, text",
    [
        (500, b'{"error": "CUDA out of memory", "trace": "..."}', BackendFailed, "HTTP 500: CUDA out of memory$"),
        (500, b"Internal Server Error", BackendFailed, "HTTP 500: Internal Server Error$"),
        (502, b"upstream https://svc:hunter2@10.0.0.1/ failed\n\x1b[31m", BackendFailed,
         r"HTTP 502: upstream https://REDACTED@10.0.0.1/ failed\\n\\x1b\[31m$"),
        (503, b"x" * 5000, BackendUnavailable, "HTTP 503: x{200}[.]{3}$"),  # busy: unavailable, not failed
        (400, b'{"detail": "input must be 2-D"}', BackendRejected, "input must be 2-D$"),
    ],
)
async def test_the_backends_error_body_is_in_the_error(serve_app, status, body, exc, text):
    async def handle(request):
        return web.Response(status=status, body=body, headers={"x-secret-header": "never-shown"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    b = backend(protocol="http-json", endpoints=[await serve_app(app)], path="/p")
    try:
        with pytest.raises(exc, match=text) as err:
            await b.infer(InferRequest(instances=[1]), CTX)
    finally:
        await b.close()
    assert "never-shown" not in str(err.value) and "hunter2" not in str(err.value)
