"""A model name from the URL becomes a metric label only when it is a configured route."""

from __future__ import annotations

from isthmus.backends.fake import FakeBackend
from tests.conftest import v2_body

CONFIG = {
    "backends": [{"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]}],
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 1}]}],
}


async def test_unknown_models_share_one_label_whatever_the_error(gateway, http):
    gw = await gateway(CONFIG, backends={"a": FakeBackend("a")})
    for i in range(5):
        # a malformed body (an Inference-Header-Content-Length that is not the JSON's length) and a good
        # one: both unknown, whatever the body
        headers = {"Inference-Header-Content-Length": "10"}
        async with http.post(f"{gw.url}/v2/models/made-up-{i}/infer", json=v2_body([1.0]), headers=headers) as r:
            assert r.status == 404
        async with http.post(f"{gw.url}/v2/models/other-{i}/infer", json=v2_body([1.0])) as r:
            assert r.status == 404
    async with http.post(f"{gw.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 200
    scraped = gw.telemetry.scrape()[0].decode()
    assert "made-up-" not in scraped and "other-" not in scraped
    counts = [ln for ln in scraped.splitlines() if ln.startswith("isthmus_request_duration_seconds_count{")]
    assert any('model="-"' in ln and 'status="404"' in ln and ln.endswith(" 10.0") for ln in counts)
    assert any('model="m"' in ln and 'status="200"' in ln for ln in counts)
