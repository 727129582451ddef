"""Fixtures for the gRPC tests: a gateway with a gRPC listener, and raw V2 stubs."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable

import grpc
import pytest
from tritonclient.grpc import service_pb2_grpc

from isthmus.backends import CallContext
from isthmus.codecs import InferRequest, InferResponse
from isthmus.deadline import call_timeout
from isthmus.gateway import GatewayServer
from tests.conftest import make_config


def grpc_config(backends: list[str] | list[dict[str, Any]], routes: list[dict[str, Any]] | None = None,
                **listener: Any) -> Any:
    """A config with REST and gRPC listeners on 127.0.0.1:0; backend names become placeholder REST backends."""
    docs = [b if isinstance(b, dict) else {"name": b, "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"]}
            for b in backends]
    if routes is None:
        routes = [{"model": "m", "variants": [{"backend": docs[0]["name"], "weight": 1}]}]
    return make_config({"listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0", **listener},
                        "backends": docs, "routes": routes})


@pytest.fixture
async def channels() -> AsyncIterator[Callable[..., service_pb2_grpc.GRPCInferenceServiceStub]]:
    """``stub(server_or_target)`` -> a V2 stub on a plaintext channel closed after the test."""
    opened: list[grpc.aio.Channel] = []

    def stub(target: GatewayServer | str) -> service_pb2_grpc.GRPCInferenceServiceStub:
        channel = grpc.aio.insecure_channel(target if isinstance(target, str) else target.grpc_target)
        opened.append(channel)
        return service_pb2_grpc.GRPCInferenceServiceStub(channel)

    yield stub
    for channel in opened:
        await channel.close()


class SlowBackend:
    """Answers x*2 after ``delay`` seconds; records the call timeout a backend client would have used."""

    def __init__(self, name: str, delay: float):
        self.name, self.delay = name, delay
        self.seen_timeouts: list[float] = []
        self.cancelled = 0

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def infer(self, request: InferRequest, ctx: CallContext) -> InferResponse:
        from isthmus.backends.fake import doubling

        self.seen_timeouts.append(call_timeout(10.0))
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return doubling()(request, ctx)

    async def ready(self, model: str) -> bool:
        return True

    async def metadata(self, model: str) -> None:
        return None
