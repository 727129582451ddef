"""A failed call that identical requests coalesced onto falls back once for all of them."""

from __future__ import annotations

import asyncio

from isthmus.backends import BackendUnavailable
from isthmus.backends.fake import FakeBackend, doubling
from tests.conftest import v2_body
from tests.waiting import until


class SlowlyFailing(FakeBackend):
    """Fails every call, once ``release`` is set (set by the test when the other requests coalesced)."""

    def __init__(self, name: str, release: asyncio.Event | None = None) -> None:
        super().__init__(name)
        self.release = release

    async def infer(self, request, ctx):
        self.calls.append((request, ctx))
        if self.release is not None:
            await self.release.wait()
        raise BackendUnavailable(self.name, "connection refused")


CONFIG = {
    "backends": [{"name": "primary", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]},
                 {"name": "local", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]}],
    "routes": [{"model": "m", "variants": [{"backend": "primary", "weight": 1}], "fallback": "local",
                "cache": {"enabled": True, "ttl": "1m"}}],
}  # fmt: skip


async def test_one_fallback_call_for_every_coalesced_request_and_its_answer_is_not_cached(gateway, http):
    release = asyncio.Event()
    primary, local = SlowlyFailing("primary", release), FakeBackend("local", doubling(100.0))
    gw = await gateway(CONFIG, backends={"primary": primary, "local": local})
    url = f"{gw.url}/v2/models/m/infer"

    async def one() -> tuple[int, str, dict]:
        async with http.post(url, json=v2_body([1.0, 2.0])) as r:
            return r.status, r.headers["x-isthmus-backend"], await r.json()

    calls = asyncio.gather(*(one() for _ in range(20)))
    await until(lambda: gw.dataplane.cache.coalescer.followers == 19, "19 requests coalesced onto the first")
    release.set()
    answers = await calls
    assert {(s, b) for s, b, _ in answers} == {(200, "local")}
    assert all(doc["outputs"][0]["data"] == [102.0, 104.0] for _, _, doc in answers)
    assert len(primary.calls) == 1 and len(local.calls) == 1  # one call each, shared by all 20
    status, backend, _ = await one()  # the fallback's answer was not cached: the primary is tried again
    assert (status, backend) == (200, "local") and len(primary.calls) == 2
    scraped = gw.telemetry.scrape()[0].decode()
    line = next(ln for ln in scraped.splitlines() if ln.startswith("isthmus_fallback_activations_total{"))
    assert line.endswith(" 21.0")  # counted per request answered by the fallback


async def test_a_failing_fallback_is_called_once_and_its_error_answers(gateway, http):
    primary, local = SlowlyFailing("primary"), SlowlyFailing("local")
    gw = await gateway(CONFIG, backends={"primary": primary, "local": local})
    async with http.post(f"{gw.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        status, backend, doc = r.status, r.headers["x-isthmus-backend"], await r.json()
    assert (status, backend) == (503, "local") and "backend 'local'" in doc["error"]
    assert len(primary.calls) == 1 and len(local.calls) == 1  # no second round of fallback
    scraped = gw.telemetry.scrape()[0].decode()
    line = next(ln for ln in scraped.splitlines() if ln.startswith("isthmus_fallback_activations_total{"))
    assert line.endswith(" 1.0")
