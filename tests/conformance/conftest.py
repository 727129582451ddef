"""The gateways the conformance tests run against, each started as a user starts it.

- ``demo``: ``isthmus demo`` (isthmus/demo.py): model ``demo``, versions 1 (ONNX, x*2) and 2
  (ONNX, x*2+100), 90/10, cached.
- ``kserve`` (marked ``peers``): ``isthmus serve`` with a one-route config in front of the real
  KServe peer (tests/peers: x*2+offset over OIP V2), its variant published as version 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.conformance.gateway_process import RunningGateway, gateway_process


@dataclass(frozen=True)
class Target:
    name: str
    gateway: RunningGateway
    model: str
    versions: tuple[str, ...]
    offsets: dict[str, float]  # x-isthmus-backend -> the offset its model adds (output = input*2 + offset)
    backend_versions: dict[str, str]  # x-isthmus-backend -> the version it serves

    @property
    def url(self) -> str:
        return self.gateway.url


def demo_target(tmp: Path) -> Iterator[Target]:
    with gateway_process(["demo", "--port", "0"], tmp / "demo.log") as gw:
        yield Target("demo", gw, "demo", ("1", "2"), {"demo-v1": 0.0, "demo-v2": 100.0},
                     {"demo-v1": "1", "demo-v2": "2"})


def kserve_target(tmp: Path) -> Iterator[Target]:
    from tests.integration.peers import run_peer

    for peer in run_peer("kserve", "double", 0.0, tmp):
        config = {
            "listener": {"address": "127.0.0.1:0"},
            "backends": [{"name": "kserve", "protocol": "kserve-v2", "endpoints": [peer.url], "model": "double"}],
            # KServe has no model versions (501): the version is the gateway's public label
            "routes": [{"model": "double", "variants": [{"backend": "kserve", "weight": 1, "version": "1"}]}],
        }
        path = tmp / "kserve.yaml"
        path.write_text(yaml.safe_dump(config))
        with gateway_process(["serve", "--config", str(path), "--admin-address", "off"], tmp / "gateway.log") as gw:
            yield Target("kserve", gw, "double", ("1",), {"kserve": 0.0}, {"kserve": "1"})


@pytest.fixture(scope="module", params=["demo", pytest.param("kserve", marks=pytest.mark.peers)])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    start = {"demo": demo_target, "kserve": kserve_target}[request.param]
    yield from start(tmp_path_factory.mktemp(f"conformance-{request.param}"))
