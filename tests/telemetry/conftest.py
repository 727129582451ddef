"""Fixtures of the telemetry tests: in-process OTLP receivers."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from tests.telemetry.otlp_receiver import GrpcReceiver, HttpReceiver


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
