"""A request whose app hangs up before the answer is measured as status 499, not lost from metrics."""

from __future__ import annotations

import asyncio

import aiohttp

from isthmus.backends.fake import FakeBackend
from tests.conftest import v2_body
from tests.waiting import until

CONFIG = {
    "backends": [{"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]}],
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 1}]}],
}


class Slow(FakeBackend):
    async def infer(self, request, ctx):
        self.calls.append((request, ctx))
        await asyncio.sleep(5)
        return self.handler(request, ctx)


async def test_a_request_the_app_abandons_is_counted_as_499(gateway, http):
    gw = await gateway(CONFIG, backends={"a": Slow("a")})
    try:
        async with http.post(f"{gw.url}/v2/models/m/infer", json=v2_body([1.0]),
                             timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    except asyncio.TimeoutError:
        pass
    # the server notices the hang-up on its own time
    def scraped_499() -> str:
        text = gw.telemetry.scrape()[0].decode()
        return text if 'status="499"' in text else ""

    scraped = await until(scraped_499, "a 499 counted")
    counts = [ln for ln in scraped.splitlines() if ln.startswith("isthmus_request_duration_seconds_count{")]
    assert any('model="m"' in ln and 'status="499"' in ln and 'variant="-"' in ln and ln.endswith(" 1.0")
               for ln in counts), counts  # fmt: skip
    assert gw._http is not None and gw._http.in_flight == 0
