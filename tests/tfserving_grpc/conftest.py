"""Fixture: the TF Serving gRPC stand-in on 127.0.0.1, any free port."""

from typing import AsyncIterator, Awaitable, Callable

import pytest

from tests.servers.tfserving_grpc import Model, start_server


@pytest.fixture
async def tfs_grpc() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """``await tfs_grpc(Model(...), ...)`` -> ``"127.0.0.1:port"`` of a started stand-in."""
    servers = []

    async def start(*models: Model) -> str:
        server, port = await start_server(*models)
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(None)
