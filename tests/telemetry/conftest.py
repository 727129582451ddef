"""Fixtures of the telemetry tests: in-process OTLP receivers, gateways with a given Telemetry."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from isthmus.gateway import GatewayServer
from tests.conftest import make_config
from tests.telemetry.otlp_receiver import GrpcReceiver, HttpReceiver


@pytest.fixture
async def started() -> AsyncIterator:
    """``await started(doc, backends, rnd=..., telemetry=...)``: a started gateway (the weighted
    pick's random value is 0.0 unless ``rnd`` says otherwise); stopped, its telemetry closed, after."""
    servers: list[GatewayServer] = []

    async def start(doc, backends=None, rnd=lambda: 0.0, telemetry=None) -> GatewayServer:
        server = GatewayServer(make_config(doc), backends=backends, random=rnd, telemetry=telemetry)
        await server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        await s.stop()
        s.telemetry.close()


@pytest.fixture
async def otlp_grpc() -> AsyncIterator[GrpcReceiver]:
    receiver = GrpcReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def otlp_http() -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()
