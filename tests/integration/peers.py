"""Fixtures that run the real model-server peers from their own virtual environments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.peers.launcher import Peer, start_peer

ROOT = Path(__file__).resolve().parents[2]


def peers_dir() -> Path:
    return Path(os.environ.get("ISTHMUS_PEERS_DIR", ROOT / ".venv-peers"))


def run_peer(kind: str, model: str, offset: float, tmp: Path) -> Iterator[Peer]:
    """Start a peer (a missing venv is a failure, not a skip: `make test` builds them)."""
    peer = start_peer(kind, peers_dir() / kind, model, offset, timeout=180, log_dir=tmp)
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="module")
def kserve_peer(tmp_path_factory) -> Iterator[Peer]:
    yield from run_peer("kserve", "double", 0.0, tmp_path_factory.mktemp("kserve"))


@pytest.fixture(scope="module")
def mlserver_peer(tmp_path_factory) -> Iterator[Peer]:
    yield from run_peer("mlserver", "double", 100.0, tmp_path_factory.mktemp("mlserver"))


@pytest.fixture(scope="module")
def ray_peer(tmp_path_factory) -> Iterator[Peer]:
    yield from run_peer("ray", "double", 1000.0, tmp_path_factory.mktemp("ray"))
