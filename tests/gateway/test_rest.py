"""The ingress over fake backends: headers, dialects, every bad input, backend failures, fallback."""

import orjson
import pytest

from isthmus.backends import (
    BackendFailed,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from isthmus.backends.fake import FakeBackend, doubling
from tests.conftest import v2_body

CONFIG = {
    "listener": {"address": "127.0.0.1:0", "max_body_size": "1KiB"},
    "backends": [
        {"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"], "version": "1"},
        {"name": "b", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"], "version": "2"},
        {"name": "fb", "protocol": "kserve-v1", "endpoints": ["http://127.0.0.1:9"]},
    ],
    "routes": [
        {"model": "m", "variants": [{"backend": "a", "weight": 1}, {"backend": "b", "weight": 1}],
         "override_header": "x-variant", "fallback": "fb"},
        {"model": "solo", "variants": [{"backend": "a", "weight": 1}]},
    ],
}


def fakes(**errors):
    return {n: FakeBackend(n, doubling(o), error=errors.get(n)) for n, o in (("a", 0), ("b", 100), ("fb", 1000))}


async def post(http, server, path, doc=None, raw=None, headers=None):
    async with http.post(server.url + path, data=raw if raw is not None else orjson.dumps(doc), headers=headers) as r:
        return r.status, r.headers, await r.json(content_type=None)


async def test_v2_infer_answers_with_backend_and_request_id(gateway, http):
    server = await gateway(CONFIG, backends=fakes(), random=lambda: 0.9)
    status, headers, doc = await post(http, server, "/v2/models/m/infer", v2_body([1, 2]))
    assert status == 200
    assert headers["x-isthmus-backend"] == "b"
    assert len(headers["x-request-id"]) == 32
    assert doc["model_name"] == "m" and doc["model_version"] == "2"
    assert doc["outputs"][0]["data"] == [102.0, 104.0]


async def test_request_id_is_honoured_and_forwarded(gateway, http):
    backends = fakes()
    server = await gateway(CONFIG, backends=backends, random=lambda: 0.1)
    _, headers, _ = await post(http, server, "/v2/models/m/infer", v2_body([1]), headers={"x-request-id": "abc-123"})
    assert headers["x-request-id"] == "abc-123"
    assert backends["a"].calls[0][1].request_id == "abc-123"


async def test_version_path_and_override(gateway, http):
    server = await gateway(CONFIG, backends=fakes(), random=lambda: 0.0)
    status, headers, doc = await post(http, server, "/v2/models/m/versions/2/infer", v2_body([1]))
    assert (status, headers["x-isthmus-backend"], doc["model_version"]) == (200, "b", "2")
    _, headers, _ = await post(http, server, "/v2/models/m/infer", v2_body([1]), headers={"x-variant": "b"})
    assert headers["x-isthmus-backend"] == "b"


async def test_v1_predict(gateway, http):
    server = await gateway(CONFIG, backends=fakes(), random=lambda: 0.0)
    status, headers, doc = await post(http, server, "/v1/models/m:predict", {"instances": [[1, 2], [3, 4]]})
    assert status == 200 and headers["x-isthmus-backend"] == "a"
    assert doc == {"predictions": [[2.0, 4.0], [6.0, 8.0]]}


@pytest.mark.parametrize(
    "path, raw, headers, status, message",
    [
        ("/v2/models/m/infer", b"{oops", None, 400, "not valid JSON"),
        ("/v2/models/m/infer", orjson.dumps(v2_body([1, 2, 3], shape=[2, 2])), None, 400, "has 3 elements but shape [2, 2] needs 4"),
        ("/v2/models/m/infer", orjson.dumps(v2_body([1], datatype="FP8")), None, 400, "unsupported datatype 'FP8'"),
        ("/v2/models/m/infer", orjson.dumps(v2_body(["x"])), None, 400, "must be numbers"),
        ("/v2/models/nope/infer", orjson.dumps(v2_body([1])), None, 404, "unknown model 'nope'"),
        ("/v2/models/m/versions/9/infer", orjson.dumps(v2_body([1])), None, 404, "no version '9' (known: 1, 2)"),
        ("/v2/models/m/infer", orjson.dumps(v2_body([1.0] * 300)), None, 413, "request body too large"),
        ("/v2/models/m/infer", orjson.dumps(v2_body([1])), {"x-variant": "zz"}, 400, "no variant 'zz'"),
        ("/v2/models/m/infer", orjson.dumps(v2_body([1])), {"Inference-Header-Content-Length": "10"}, 400,
         "the first 10 bytes of the body (Inference-Header-Content-Length) is not valid JSON"),
        ("/v1/models/m:predict", b'{"instances": []}', None, 400, "non-empty 'instances'"),
        ("/v1/models/nope:predict", b'{"instances": [1]}', None, 404, "unknown model 'nope'"),
        ("/v3/whatever", b"{}", None, 404, "no such endpoint: POST /v3/whatever"),
    ],
)
async def test_bad_input_gets_a_4xx_naming_the_problem(gateway, http, path, raw, headers, status, message):
    server = await gateway(CONFIG, backends=fakes())
    got, resp_headers, doc = await post(http, server, path, raw=raw, headers=headers)
    assert got == status
    assert message in doc["error"]
    assert resp_headers["x-isthmus-backend"] == "-" and resp_headers["x-request-id"]


async def test_get_on_infer_is_405_json(gateway, http):
    server = await gateway(CONFIG, backends=fakes())
    async with http.get(server.url + "/v2/models/m/infer") as r:
        assert r.status == 405 and "not allowed" in (await r.json())["error"]


@pytest.mark.parametrize(
    "error, status",
    [
        (BackendUnavailable("a", "connection refused"), 503),
        (BackendTimeout("a", "no answer within 1s"), 504),
        (BackendFailed("a", "HTTP 500: boom"), 502),
    ],
)
async def test_backend_failures_map_to_5xx_naming_the_backend(gateway, http, error, status):
    server = await gateway(CONFIG, backends=fakes(a=error))
    got, headers, doc = await post(http, server, "/v2/models/solo/infer", v2_body([1]))
    assert got == status
    assert headers["x-isthmus-backend"] == "a"
    assert "backend 'a'" in doc["error"]


async def test_fallback_answers_when_primary_fails(gateway, http):
    backends = fakes(a=BackendUnavailable("a", "refused"))
    server = await gateway(CONFIG, backends=backends, random=lambda: 0.0)
    status, headers, doc = await post(http, server, "/v2/models/m/infer", v2_body([1]))
    assert (status, headers["x-isthmus-backend"]) == (200, "fb")
    assert doc["outputs"][0]["data"] == [1002.0]


async def test_no_fallback_when_backend_rejects_the_request(gateway, http):
    backends = fakes(a=BackendRejected("a", "bad tensor", 400))
    server = await gateway(CONFIG, backends=backends, random=lambda: 0.0)
    status, headers, doc = await post(http, server, "/v2/models/m/infer", v2_body([1]))
    assert (status, headers["x-isthmus-backend"]) == (400, "a")
    assert "bad tensor" in doc["error"] and not backends["fb"].calls


async def test_health_and_metadata(gateway, http):
    backends = fakes()
    server = await gateway(CONFIG, backends=backends)
    for path in ("/v2/health/live", "/v2/health/ready", "/v2"):
        async with http.get(server.url + path) as r:
            assert r.status == 200
    async with http.get(server.url + "/v2/models/m") as r:
        doc = await r.json()
        assert doc["name"] == "m" and doc["versions"] == ["1", "2"] and doc["inputs"][0]["name"] == "input-0"
    async with http.get(server.url + "/v2/models/m/ready") as r:
        assert r.status == 200 and (await r.json())["ready"] is True
    backends["a"].is_ready = backends["b"].is_ready = False
    async with http.get(server.url + "/v2/models/m/ready") as r:
        assert r.status == 503
    async with http.get(server.url + "/v2/models/m/versions/5/ready") as r:
        assert r.status == 404
