"""The REST extensions over fake backends: URL table order, config, repository index (and its body),
statistics with exact counts, KServe V1 liveness, model list and :explain's 501."""

import orjson
import pytest

from isthmus.backends.fake import FakeBackend
from isthmus.gateway.routes import Match, resolve
from tests.conftest import v2_body
from tests.gateway.test_rest import CONFIG, fakes, post


async def get(http, server, path):
    async with http.get(server.url + path) as r:
        return r.status, r.headers, await r.json(content_type=None)


def test_stats_of_all_models_is_not_the_metadata_of_a_model_called_stats():
    assert resolve("GET", "/v2/models/stats").endpoint == "all_stats"
    assert resolve("GET", "/v2/models/m/versions/2/stats") == Match("model_stats", "m", "2")
    assert resolve("GET", "/v2/models/m/config").endpoint == "model_config"
    assert resolve("GET", "/v2/models/m").endpoint == "model_metadata"
    assert resolve("POST", "/v2/repository/index").endpoint == "repository_index"
    assert resolve("POST", "/v1/models/m:explain").model == "m"
    assert (resolve("GET", "/").endpoint, resolve("GET", "/v1/models").endpoint) == ("live_v1", "models_v1")
    assert resolve("GET", "/v1/models/m").endpoint == "model_ready_v1"


async def test_config_of_a_route_and_of_one_version(gateway, http):
    server = await gateway(CONFIG, backends=fakes())
    status, _, doc = await get(http, server, "/v2/models/m/config")
    assert status == 200
    assert (doc["name"], doc["backend"], doc["max_batch_size"]) == ("m", "kserve-v2", 0)
    assert doc["version_policy"] == {"specific": {"versions": [1, 2]}}
    assert doc["input"] == [{"name": "input-0", "data_type": "TYPE_FP32", "dims": [-1, -1]}]
    assert doc["parameters"] == {
        "isthmus.variant.a": {"string_value": "protocol=kserve-v2 weight=1 version=1"},
        "isthmus.variant.b": {"string_value": "protocol=kserve-v2 weight=1 version=2"},
        "isthmus.fallback": {"string_value": "fb"},
    }
    status, _, doc = await get(http, server, "/v2/models/m/versions/2/config")
    assert doc["version_policy"] == {"specific": {"versions": [2]}} and list(doc["parameters"]) == [
        "isthmus.variant.b", "isthmus.fallback"]
    assert (await get(http, server, "/v2/models/m/versions/7/config"))[0] == 404
    assert (await get(http, server, "/v2/models/zz/config"))[0] == 404


async def test_repository_index_and_its_optional_body(gateway, http):
    backends = fakes()
    backends["b"].is_ready = False
    server = await gateway(CONFIG, backends=backends)
    status, _, rows = await post(http, server, "/v2/repository/index", raw=b"")
    assert status == 200 and rows == [
        {"name": "m", "version": "1", "state": "READY", "reason": ""},
        {"name": "m", "version": "2", "state": "UNAVAILABLE", "reason": "no variant with traffic is ready (b)"},
        {"name": "solo", "version": "1", "state": "READY", "reason": ""},
    ]
    status, _, rows = await post(http, server, "/v2/repository/index", {"ready": True})
    assert [(r["name"], r["version"]) for r in rows] == [("m", "1"), ("solo", "1")]
    for bad in (b"[1]", b"{", b'{"ready": "yes"}'):
        status, _, doc = await post(http, server, "/v2/repository/index", raw=bad)
        assert status == 400 and "error" in doc, bad


async def test_statistics_count_requests_exactly(gateway, http):
    server = await gateway({**CONFIG, "routes": [{**CONFIG["routes"][0], "cache": {"enabled": True}},
                                                 CONFIG["routes"][1]]}, backends=fakes())
    body = v2_body([1.0, 2.0])
    for _ in range(3):  # a miss, then two hits
        assert (await post(http, server, "/v2/models/m/infer", body, headers={"x-variant": "b"}))[0] == 200
    assert (await post(http, server, "/v2/models/m/infer", {"inputs": 1}))[0] == 400
    status, _, doc = await get(http, server, "/v2/models/m/stats")
    (m,) = doc["model_stats"]
    assert status == 200 and (m["name"], m["version"], m["inference_count"], m["execution_count"]) == ("m", "", 3, 1)
    stats = m["inference_stats"]
    assert (stats["success"]["count"], stats["fail"]["count"], stats["cache_hit"]["count"], stats["cache_miss"]) == (
        3, 1, 2, {"count": 1, "ns": 0})
    assert stats["success"]["ns"] >= stats["cache_hit"]["ns"] > 0 and stats["compute_infer"] == {"count": 0, "ns": 0}
    (v2,) = (await get(http, server, "/v2/models/m/versions/2/stats"))[2]["model_stats"]
    (v1,) = (await get(http, server, "/v2/models/m/versions/1/stats"))[2]["model_stats"]
    assert (v2["inference_count"], v2["inference_stats"]["fail"]["count"], v1["inference_count"]) == (3, 0, 0)
    _, _, everything = await get(http, server, "/v2/models/stats")
    assert [(e["name"], e["inference_count"]) for e in everything["model_stats"]] == [("m", 3), ("solo", 0)]
    assert (await get(http, server, "/v2/models/zz/stats"))[0] == 404


async def test_kserve_v1_liveness_model_list_and_explain(gateway, http):
    server = await gateway(CONFIG, backends=fakes())
    assert (await get(http, server, "/v2"))[2]["extensions"] == ["binary_tensor_data", "model_configuration", "statistics"]
    assert (await get(http, server, "/"))[::2] == (200, {"status": "alive"})
    assert (await get(http, server, "/v1/models"))[::2] == (200, {"models": ["m", "solo"]})
    status, headers, doc = await post(http, server, "/v1/models/m:explain", {"instances": [[1]]}, headers={"x-variant": "a"})
    assert status == 501 and headers["x-isthmus-backend"] == "a"
    assert doc["error"].startswith("backend 'a' cannot serve this request: :explain of model 'm' is not supported by "
                                   "protocol 'kserve-v2'")
    for bad in (b"[1]", b"nope"):
        status, _, doc = await post(http, server, "/v1/models/m:explain", raw=bad)
        assert status == 400 and "JSON" in doc["error"]
    assert (await post(http, server, "/v1/models/zz:explain", {"instances": []}))[0] == 404


@pytest.mark.parametrize("path", ["/v2/models/m/config", "/v2/models/stats", "/v1/models", "/"])
async def test_head_and_wrong_methods(gateway, http, path):
    server = await gateway(CONFIG, backends={n: FakeBackend(n) for n in ("a", "b", "fb")})
    async with http.head(server.url + path) as r:
        assert r.status == 200
    async with http.delete(server.url + path) as r:
        assert r.status == 405 and "error" in orjson.loads(await r.read())
