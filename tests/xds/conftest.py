"""An ADS server over a snapshot cache, on 127.0.0.1:0, with its client registry."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import AsyncIterator

import grpc
import pytest

from isthmus.xds import SnapshotCache
from isthmus.xds.server import start_ads_server
from isthmus.xds.status import ClientRegistry


@dataclass
class Plane:
    cache: SnapshotCache
    registry: ClientRegistry
    port: int
    channel: grpc.aio.Channel


@pytest.fixture
async def plane() -> AsyncIterator[Plane]:
    cache = SnapshotCache()
    registry = ClientRegistry(cache.group_of, time.time)
    server, port = await start_ads_server(cache, registry)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Plane(cache, registry, port, channel)
    await channel.close()
    await server.stop(None)
