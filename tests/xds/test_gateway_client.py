"""Isthmus gateways as xDS clients, against real peers: the real control plane over real gRPC, a
real gateway over real HTTP, tiny V2 backends answering their own name."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import orjson
import pytest

from isthmus.config import Config
from isthmus.gateway import GatewayServer
from isthmus.gateway.xds_sink import GatewaySink
from isthmus.xds import Snapshot, resources_from_config
from isthmus.xds.backoff import Backoff
from isthmus.xds.cli import running_control_plane
from isthmus.xds.client import gateway_node
from isthmus.xds.follower import Follower
from isthmus.xds.persist import SnapshotFile
from tests.conftest import v2_body
from tests.servers import scripted
from tests.xds.helpers import write

BODY = orjson.dumps(v2_body([1.0]))
ROOT = Path(__file__).resolve().parents[2]


def traffic(urls: dict[str, str], weights: dict[str, int], onnx: dict[str, str] | None = None) -> dict[str, Any]:
    backends: list[dict[str, Any]] = [
        {"name": n, "protocol": "kserve-v2", "endpoints": [u], "timeout": "2s"} for n, u in urls.items()
    ]
    backends += [{"name": n, "protocol": "onnx", "model_path": p, "warmup": False} for n, p in (onnx or {}).items()]
    variants = [{"backend": n, "weight": w} for n, w in weights.items()]
    return {
        "listener": {"address": "127.0.0.1:18080"},
        "backends": backends,
        "routes": [{"model": "m", "variants": variants}],
    }


def weights_of(server: GatewayServer) -> dict[str, int]:
    config = server.dataplane.state.config
    return {v.backend: v.weight for v in config.routes[0].variants} if config.routes else {}


async def until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def infer(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.post(url + "/v2/models/m/infer", data=BODY) as r:
        await r.read()
        return r.status, r.headers.get("x-isthmus-backend", "-")


async def split(http: aiohttp.ClientSession, url: str, n: int) -> Counter:
    seen: Counter = Counter()
    for _ in range(n):
        status, backend = await infer(http, url)
        assert status == 200
        seen[backend] += 1
    return seen


@pytest.fixture
async def backends(serve_app: Callable[[Any], Awaitable[str]]) -> dict[str, str]:
    return {n: await serve_app(scripted.make_app(scripted.Script(n))) for n in ("a", "b", "c")}


@asynccontextmanager
async def following_gateway(
    xds_port: int, snapshot: Path | None = None
) -> AsyncIterator[tuple[GatewayServer, Follower]]:
    server = GatewayServer(Config.model_validate({"listener": {"address": "127.0.0.1:0"}}))
    store = SnapshotFile(snapshot) if snapshot is not None else None
    follower = Follower(GatewaySink(server), f"127.0.0.1:{xds_port}", gateway_node("gw-1"), store,
                        backoff=Backoff(initial=0.05, maximum=0.3), initial_timeout=1.0)  # fmt: skip
    await server.start()
    task = asyncio.create_task(follower.run())
    try:
        yield server, follower
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()


async def test_gateway_follows_the_files_weights(tmp_path, backends, http):
    write(tmp_path / "default.yaml", traffic(backends, {"a": 100, "b": 0}))
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        async with following_gateway(cp.port) as (server, _):
            async with http.get(server.url + "/v2/health/ready") as r:
                assert r.status in (200, 503)  # not ready until the first config is applied
            await until(lambda: weights_of(server) == {"a": 100, "b": 0}, what="first config")
            async with http.get(server.url + "/v2/health/ready") as r:
                assert r.status == 200 and (await r.json())["ready"] is True
            assert server.dataplane.state.source == f"xds 127.0.0.1:{cp.port}"
            assert await split(http, server.url, 50) == {"a": 50}

            write(tmp_path / "default.yaml", traffic(backends, {"a": 0, "b": 100}))
            await until(lambda: weights_of(server) == {"a": 0, "b": 100}, what="weights flipped")
            assert await split(http, server.url, 50) == {"b": 50}

            write(tmp_path / "default.yaml", traffic(backends, {"a": 80, "b": 20}))
            await until(lambda: weights_of(server) == {"a": 80, "b": 20}, what="80/20")
            seen = await split(http, server.url, 400)
            assert abs(seen["a"] - 320) <= 32, seen  # 4 sigma

            clients = [c for c in cp.registry.clients() if c["node_id"] == "gw-1"]
            assert len(clients) == 1 and all(t["nacks"] == 0 for t in clients[0]["types"].values())
            assert {t["acked_version"] for t in clients[0]["types"].values()} >= {
                cp.cache.snapshot("default").versions[u] for u in cp.cache.snapshot("default").versions
            } - {""}


async def test_twenty_changes_under_load_drop_nothing(tmp_path, backends, http):
    ab = {n: backends[n] for n in "ab"}
    write(tmp_path / "default.yaml", traffic(ab, {"a": 1, "b": 0}))
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        async with following_gateway(cp.port) as (server, _):
            await until(lambda: weights_of(server) == {"a": 1, "b": 0}, what="first config")
            statuses: Counter = Counter()
            seen: Counter = Counter()
            stop = asyncio.Event()

            async def client() -> None:
                while not stop.is_set():
                    status, backend = await infer(http, server.url)
                    statuses[status] += 1
                    seen[backend] += 1

            tasks = [asyncio.create_task(client()) for _ in range(6)]
            previous: dict[str, int] = {"a": 1, "b": 0}
            for i in range(20):
                if i == 8:  # a backend added ...
                    urls, weights = backends, {"a": 1, "b": 1, "c": 1}
                elif 8 < i < 12:
                    urls, weights = backends, {"a": i % 2, "b": 1 - i % 2, "c": 1}
                else:  # ... and removed again
                    urls, weights = ab, ({"a": 0, "b": 1} if i % 2 == 0 else {"a": 1, "b": 0})
                assert weights != previous  # every step is a change the gateway must apply
                write(tmp_path / "default.yaml", traffic(urls, weights))
                await until(lambda: weights_of(server) == weights, what=f"change {i}")
                previous = weights
                await asyncio.sleep(0.03)
            stop.set()
            await asyncio.gather(*tasks)
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) > 200
    assert seen["a"] and seen["b"] and seen["c"], seen


async def test_unusable_resource_is_nacked_and_the_previous_config_kept(tmp_path, backends, http):
    ab = {n: backends[n] for n in "ab"}
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx model")  # exists (so the control plane serves it)
    write(tmp_path / "default.yaml", traffic(ab, {"a": 1, "b": 1}))
    async with running_control_plane(tmp_path, poll_interval=0.02, status_port=0, stage_timeout=0.5) as cp:
        async with following_gateway(cp.port) as (server, follower):
            await until(lambda: weights_of(server) == {"a": 1, "b": 1}, what="first config")
            good = server.dataplane.state.version

            write(tmp_path / "default.yaml", traffic(ab, {"a": 1, "b": 1, "local": 5}, onnx={"local": "broken.onnx"}))
            await until(lambda: cp.registry.nack_total > 0, what="a NACK")
            async with http.get(f"http://127.0.0.1:{cp.status_port}/status") as r:
                status = await r.json()
            (gw,) = [c for c in status["clients"] if c["node_id"] == "gw-1"]
            details = [t["last_nack"]["error_detail"] for t in gw["types"].values() if t["last_nack"]]
            assert any("cannot start backend 'local'" in d for d in details), details
            assert server.dataplane.state.version == good and weights_of(server) == {"a": 1, "b": 1}
            assert set(await split(http, server.url, 20)) <= {"a", "b"}
            assert follower.nacks

            # fixed: the gateway follows again
            write(tmp_path / "default.yaml", traffic(ab, {"a": 0, "b": 1}))
            await until(lambda: weights_of(server) == {"a": 0, "b": 1}, what="the fixed file")
            assert await split(http, server.url, 10) == {"b": 10}

            # served by the control plane, but the model file is missing on the gateway's machine
            missing = tmp_path / "elsewhere" / "model.onnx"
            doc = traffic(ab, {"a": 1, "b": 1, "local": 1}, onnx={"local": str(missing)})
            nacks = len(follower.nacks)
            await cp.directory.rollout("default", Snapshot.build(resources_from_config(Config.model_validate(doc))))
            await until(lambda: len(follower.nacks) > nacks, what="a NACK for the missing model")
            assert "cannot start backend 'local'" in follower.nacks[-1] and str(missing) in follower.nacks[-1]
            assert weights_of(server) == {"a": 0, "b": 1}
            assert await split(http, server.url, 10) == {"b": 10}


async def test_resource_the_gateway_cannot_read_is_nacked_with_the_resource_error(tmp_path, backends):
    from envoy.config.cluster.v3 import cluster_pb2

    from isthmus.xds import type_urls
    from isthmus.xds.resources import load_assignment

    ab = {n: backends[n] for n in "ab"}
    write(tmp_path / "default.yaml", traffic(ab, {"a": 1, "b": 1}))
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        async with following_gateway(cp.port) as (server, follower):
            await until(lambda: weights_of(server) == {"a": 1, "b": 1}, what="first config")
            # A cluster without Isthmus metadata (Envoy would take it; a gateway cannot)
            res = resources_from_config(Config.model_validate(traffic(ab, {"a": 1, "b": 1})))
            res[type_urls.CLUSTER]["x"] = cluster_pb2.Cluster(name="x", type=cluster_pb2.Cluster.STATIC)
            res[type_urls.CLUSTER]["x"].load_assignment.CopyFrom(load_assignment("x", ["http://127.0.0.1:1"]))
            await cp.directory.rollout("default", Snapshot.build(res))
            await until(lambda: bool(follower.nacks), what="a NACK")
            assert "Cluster 'x': no isthmus metadata" in follower.nacks[-1]
            (gw,) = [c for c in cp.registry.clients() if c["node_id"] == "gw-1"]
            assert gw["types"]["CDS"]["last_nack"]["error_detail"] == follower.nacks[-1]
            assert weights_of(server) == {"a": 1, "b": 1}


# --- control plane and gateway as real processes ------------------------------------------------


class Proc:
    """``python -m isthmus ARGS`` with its output collected by a thread (the pipe never fills)."""

    def __init__(self, args: list[str], ready: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.p = subprocess.Popen([sys.executable, "-m", "isthmus", *args], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.match = self._wait_for(ready)

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line)

    def _wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.p.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"no {pattern!r} in output:\n{self.output()}")

    def output(self) -> str:
        self._reader.join(5)
        return "".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def control_plane(config_dir: Path, port: int = 0) -> Proc:
    return Proc(["control-plane", "--config-dir", str(config_dir), "--port", str(port), "--poll-interval", "0.02"],
                r"xDS on 127\.0\.0\.1:(\d+)")  # fmt: skip


async def wait_http(http: aiohttp.ClientSession, url: str, status: int = 200, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with http.get(url) as r:
                if r.status == status:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered {status}")
        await asyncio.sleep(0.05)


async def test_killed_control_plane_leaves_the_gateway_serving_and_restarting_it_reconnects(tmp_path, backends, http):
    ab = {n: backends[n] for n in "ab"}
    write(tmp_path / "default.yaml", traffic(ab, {"a": 1, "b": 0}))
    cp = control_plane(tmp_path)
    port = int(cp.match.group(1))
    try:
        async with following_gateway(port) as (server, follower):
            await until(lambda: weights_of(server) == {"a": 1, "b": 0}, what="first config")
            cp.stop(signal.SIGKILL)
            await until(lambda: not follower.client.connected, what="the stream to end")
            assert await split(http, server.url, 20) == {"a": 20}
            write(tmp_path / "default.yaml", traffic(ab, {"a": 0, "b": 1}))
            await asyncio.sleep(0.3)  # several reconnect attempts fail meanwhile
            assert await split(http, server.url, 20) == {"a": 20}

            cp = control_plane(tmp_path, port)  # serves the changed file
            await until(lambda: weights_of(server) == {"a": 0, "b": 1}, what="the change after the restart")
            assert await split(http, server.url, 20) == {"b": 20}
            write(tmp_path / "default.yaml", traffic(ab, {"a": 1, "b": 0}))
            await until(lambda: weights_of(server) == {"a": 1, "b": 0}, what="a change after reconnecting")
    finally:
        cp.stop()


async def test_gateway_restarted_while_the_control_plane_is_down_serves_the_persisted_config(
    tmp_path, backends, http
):  # fmt: skip
    ab = {n: backends[n] for n in "ab"}
    config_dir = tmp_path / "traffic"
    config_dir.mkdir()
    write(config_dir / "default.yaml", traffic(ab, {"a": 0, "b": 1}))
    snapshot = tmp_path / "state" / "gw.json"

    def gateway(xds_port: int) -> Proc:
        return Proc(["serve", "--xds", f"127.0.0.1:{xds_port}", "--node-id", "gw-2", "--listen", "127.0.0.1:0",
                     "--snapshot-file", str(snapshot)], r"serving on (http://\S+),")  # fmt: skip

    cp = control_plane(config_dir)
    xds_port = int(cp.match.group(1))
    gw = gateway(xds_port)
    try:
        url = gw.match.group(1)
        await wait_http(http, url + "/v2/health/ready")
        assert await split(http, url, 10) == {"b": 10}
        await until(lambda: snapshot.exists(), what="the snapshot file")
    finally:
        cp.stop(signal.SIGKILL)
        gw.stop()
    assert gw.p.returncode == 0, gw.output()

    gw = gateway(xds_port)  # the control plane is down
    try:
        url = gw.match.group(1)
        await wait_http(http, url + "/v2/health/ready")
        assert await split(http, url, 10) == {"b": 10}
    finally:
        gw.stop()
    out = gw.output()
    assert "serving the last good config" in out, out

    snapshot.write_text('{"isthmus_xds_snapshot": 1, "config": {"routes": [{"model": ')  # torn / corrupt
    gw = gateway(xds_port)
    try:
        url = gw.match.group(1)
        await wait_http(http, url + "/v2/health/ready", status=503)
        await asyncio.sleep(0.5)  # past the first failed attempt: still up, still not ready
        await wait_http(http, url + "/v2/health/ready", status=503)
        assert gw.p.poll() is None
    finally:
        gw.stop()
    out = gw.output()
    assert re.search(r"ignoring the xDS snapshot file .*gw\.json: not JSON", out), out
