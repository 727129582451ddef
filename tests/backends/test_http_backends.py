"""HTTP backend clients against local servers: paths, dialects, pooling, failover, errors."""

import numpy as np
import orjson
import pytest

from isthmus.backends import (
    BackendFailed,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    CallContext,
    build_backend,
)
from isthmus.codecs import InferRequest, v1, v2
from isthmus.config import Config
from tests.conftest import free_port, v2_body
from tests.servers import scripted, tfserving_rest

CTX = CallContext("public", "rid-1")


def backend(**doc):
    doc.setdefault("name", "b")
    doc.setdefault("protocol", "kserve-v2")
    cfg = Config.model_validate({"backends": [doc]}).backends[0]
    return build_backend(cfg)


def v2_request(data, shape=None):
    return v2.decode_request(orjson.dumps(v2_body(data, shape)))


async def test_kserve_v2_forwards_the_apps_bytes_to_the_remote_name(serve_app):
    s = scripted.Script("remote")
    url = await serve_app(scripted.make_app(s))
    b = backend(endpoints=[url], model="remote", version="3")
    try:
        resp = await b.infer(v2_request([1.0]), CTX)
    finally:
        await b.close()
    assert s.calls == ["POST /v2/models/remote/versions/3/infer"]
    assert resp.v2_outputs[0]["name"] == "output-0"


async def test_round_robin_and_connect_failover(serve_app):
    s1, s2 = scripted.Script("m"), scripted.Script("m")
    dead = f"http://127.0.0.1:{free_port()}"
    b = backend(endpoints=[await serve_app(scripted.make_app(s1)), dead, await serve_app(scripted.make_app(s2))])
    try:
        for _ in range(6):
            await b.infer(v2_request([1.0]), CTX)
    finally:
        await b.close()
    # the dead endpoint's turns move on to the next endpoint; nothing is lost
    assert len(s1.calls) + len(s2.calls) == 6 and len(s1.calls) >= 2 and len(s2.calls) >= 2


async def test_all_endpoints_down_is_unavailable():
    b = backend(endpoints=[f"http://127.0.0.1:{free_port()}"])
    with pytest.raises(BackendUnavailable, match="backend 'b' is unavailable"):
        await b.infer(v2_request([1.0]), CTX)
    await b.close()


async def test_timeout(serve_app):
    url = await serve_app(scripted.make_app(scripted.Script("m", delay=2)))
    b = backend(endpoints=[url], timeout="100ms")
    with pytest.raises(BackendTimeout, match="within 0.1s"):
        await b.infer(v2_request([1.0]), CTX)
    await b.close()


@pytest.mark.parametrize(
    "status, body, exc, text",
    [
        (500, b'{"error": "kaboom"}', BackendFailed, "HTTP 500: kaboom"),
        (503, b"upstream down", BackendUnavailable, "HTTP 503: upstream down"),  # busy or down: 503, fallback
        (400, b'{"detail": "wrong shape"}', BackendRejected, "wrong shape"),
        (429, b'{"error": "slow down"}', BackendUnavailable, "HTTP 429: slow down"),
        (401, b'{"error": "who are you"}', BackendFailed, "HTTP 401: who are you"),
        (200, b'{"nope": 1}', BackendFailed, "bad response"),
        (200, b"<html>", BackendFailed, "not valid JSON"),
    ],
)
async def test_backend_errors(serve_app, status, body, exc, text):
    url = await serve_app(scripted.make_app(scripted.Script("m", status=status, body=body)))
    b = backend(endpoints=[url])
    with pytest.raises(exc, match=text):
        await b.infer(v2_request([1.0]), CTX)
    await b.close()


async def test_tfserving_row_and_columnar(serve_app):
    url = await serve_app(tfserving_rest.make_app("half_plus", offset=0.5))
    row = backend(protocol="tfserving", endpoints=[url], model="half_plus")
    col = backend(protocol="tfserving", endpoints=[url], model="half_plus", format="columnar", version="1")
    try:
        r = await row.infer(v2_request([1, 2, 3, 4], [2, 2]), CTX)
        assert r.predictions == [[2.5, 4.5], [6.5, 8.5]]
        c = await col.infer(v2_request([1, 2, 3, 4], [2, 2]), CTX)
        np.testing.assert_array_equal(c.outputs[0].data, [[2.5, 4.5], [6.5, 8.5]])
        assert await row.ready("x") and await col.ready("x")
        missing = backend(protocol="tfserving", endpoints=[url], model="other")
        with pytest.raises(BackendRejected, match="Servable not found"):
            await missing.infer(v2_request([1]), CTX)
        assert not await missing.ready("x")
        await missing.close()
    finally:
        await row.close()
        await col.close()


async def test_kserve_v1_sends_instances(serve_app):
    s = scripted.Script("m", body=b'{"predictions": [[3.0]]}')
    b = backend(protocol="kserve-v1", endpoints=[await serve_app(scripted.make_app(s))])
    try:
        r = await b.infer(v1.decode_request(b'{"instances": [[1.0]]}'), CTX)
    finally:
        await b.close()
    assert s.calls == ["POST /v1/models/public:predict"] and r.predictions == [[3.0]]


async def test_ray_serve_route_prefix(serve_app):
    s = scripted.Script("m", body=b'{"predictions": [1]}')
    b = backend(protocol="ray-serve", endpoints=[await serve_app(scripted.make_app(s))], route_prefix="/classify")
    try:
        await b.infer(InferRequest(instances=[1]), CTX)
    finally:
        await b.close()
    assert s.calls == ["POST /classify"]


async def test_the_apps_deadline_shortens_the_backend_timeout(serve_app):
    import time

    from isthmus.deadline import app_deadline

    url = await serve_app(scripted.make_app(scripted.Script("m", delay=2)))
    b = backend(endpoints=[url], timeout="10s")
    start = time.monotonic()
    with app_deadline(0.2), pytest.raises(BackendTimeout, match=r"within 0\.[12]\d*s"):
        await b.infer(v2_request([1.0]), CTX)
    assert time.monotonic() - start < 1.0
    await b.close()


async def test_an_answer_over_max_response_size_is_the_backends_failure(serve_app):
    big = b'{"outputs": [{"name": "o", "datatype": "BYTES", "shape": [1], "data": ["' + b"x" * 5000 + b'"]}]}'
    url = await serve_app(scripted.make_app(scripted.Script("m", status=200, body=big)))
    b = backend(endpoints=[url], max_response_size="4KiB")
    with pytest.raises(BackendFailed, match="larger than the limit of 4096 bytes"):
        await b.infer(v2_request([1.0]), CTX)
    await b.close()
