"""Shared fixtures: demo ONNX models, and a gateway started on 127.0.0.1:0."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from isthmus.backends import Backend
from isthmus.config import Config
from isthmus.demo import write_model
from isthmus.gateway import GatewayServer


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``double`` computes x*2, ``double100`` computes x*2+100 (FP32, input-0 -> output-0)."""
    d = tmp_path_factory.mktemp("onnx")
    return {"double": write_model(d / "double.onnx", 0.0), "double100": write_model(d / "double100.onnx", 100.0)}


def make_config(doc: dict[str, Any], base_dir: Path | None = None) -> Config:
    doc = {"listener": {"address": "127.0.0.1:0"}, **doc}
    return Config.model_validate(doc, context={"base_dir": str(base_dir) if base_dir else None})


GatewayFactory = Callable[..., Awaitable[GatewayServer]]


@pytest.fixture
async def gateway() -> AsyncIterator[GatewayFactory]:
    """``await gateway(config_dict, backends=..., random=...)`` -> a started GatewayServer."""
    started: list[GatewayServer] = []

    async def start(
        doc: dict[str, Any] | Config,
        backends: dict[str, Backend] | None = None,
        random: Callable[[], float] | None = None,
    ) -> GatewayServer:
        config = doc if isinstance(doc, Config) else make_config(doc)
        server = GatewayServer(config, backends=backends, random=random, host="127.0.0.1", port=0)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def v2_body(data: list[float], shape: list[int] | None = None, name: str = "input-0", datatype: str = "FP32") -> dict:
    return {"inputs": [{"name": name, "datatype": datatype, "shape": shape or [1, len(data)], "data": data}]}


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[Any], Awaitable[str]]]:
    """``await serve_app(aiohttp_app)`` -> base URL of the app served on 127.0.0.1:0."""
    from aiohttp import web

    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


def free_port() -> int:
    """A port nothing listens on (bound then released), for connection-refused tests."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_report_header(config: pytest.Config) -> str | None:
    """With ISTHMUS_EXPECT_COMPILED=1 (tests/test_compiled_build.py), refuse to run on pure-Python modules."""
    if os.environ.get("ISTHMUS_EXPECT_COMPILED") != "1":
        return None
    import importlib

    from isthmus import _hot_path

    for name in _hot_path.MODULES:
        importlib.import_module(name)
    missing = sorted(set(_hot_path.MODULES) - set(_hot_path.compiled()))
    if missing:
        raise pytest.UsageError(f"ISTHMUS_EXPECT_COMPILED=1 but these modules are not compiled: {missing}")
    return f"hot path compiled: {len(_hot_path.MODULES)} modules"
