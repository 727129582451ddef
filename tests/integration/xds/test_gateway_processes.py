"""The control plane and a gateway as real processes (``python -m isthmus ...``): a killed control plane
leaves the gateway serving; a gateway restarted while the control plane is down serves the persisted
config. The same in one process: tests/xds/test_gateway_client.py."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from tests.processes import Process, isthmus_argv, start_process
from tests.waiting import until
from tests.xds.following import following_gateway, named_backends, split, traffic, weights_of
from tests.xds.helpers import write


@pytest.fixture
async def backends(serve_app) -> dict[str, str]:
    return await named_backends(serve_app)


ROOT = Path(__file__).resolve().parents[3]


def isthmus(log_dir: Path, name: str, args: list[str], ready: str) -> tuple[Process, re.Match[str]]:
    """``python -m isthmus ARGS``, and the match of ``ready`` in its output."""
    proc = start_process(isthmus_argv(*args), name=name, log_dir=log_dir, cwd=ROOT)
    try:
        return proc, proc.wait_for_line(ready, timeout=20)
    except BaseException:
        proc.stop()
        raise


def control_plane(log_dir: Path, config_dir: Path, port: int = 0) -> tuple[Process, int]:
    proc, match = isthmus(log_dir, "control-plane", ["control-plane", "--config-dir", str(config_dir), "--port", str(port),
                                                     "--poll-interval", "0.02"], r"xDS on 127\.0\.0\.1:(\d+)")  # fmt: skip
    return proc, int(match.group(1))


async def wait_http(http: aiohttp.ClientSession, url: str, status: int = 200, timeout: float = 10.0) -> None:
    async def answered() -> bool:
        try:
            async with http.get(url) as r:
                return r.status == status
        except aiohttp.ClientError:
            return False

    await until(answered, f"{url} answering {status}", timeout, interval=0.05)


async def test_killed_control_plane_leaves_the_gateway_serving_and_restarting_it_reconnects(tmp_path, backends, http):
    ab = {n: backends[n] for n in "ab"}
    write(tmp_path / "default.yaml", traffic(ab, {"a": 1, "b": 0}))
    logs = tmp_path / "logs"
    cp, port = control_plane(logs, tmp_path)
    try:
        async with following_gateway(port) as (server, follower):
            await until(lambda: weights_of(server) == {"a": 1, "b": 0}, what="first config")
            cp.kill()
            await until(lambda: not follower.client.connected, what="the stream to end")
            assert await split(http, server.url, 20) == {"a": 20}
            write(tmp_path / "default.yaml", traffic(ab, {"a": 0, "b": 1}))
            attempts = follower.client.streams
            await until(lambda: follower.client.streams >= attempts + 3, "several failed reconnect attempts")
            assert await split(http, server.url, 20) == {"a": 20}

            cp, _ = control_plane(logs, tmp_path, port)  # serves the changed file
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

    logs = tmp_path / "logs"

    def gateway(xds_port: int) -> tuple[Process, str]:
        proc, match = isthmus(logs, "gateway", ["serve", "--xds", f"127.0.0.1:{xds_port}", "--node-id", "gw-2",
                                                "--listen", "127.0.0.1:0", "--snapshot-file", str(snapshot)],
                              r"serving on (http://\S+),")  # fmt: skip
        return proc, match.group(1)

    cp, xds_port = control_plane(logs, config_dir)
    gw, url = gateway(xds_port)
    try:
        await wait_http(http, url + "/v2/health/ready")
        assert await split(http, url, 10) == {"b": 10}
        await until(lambda: snapshot.exists(), what="the snapshot file")
    finally:
        cp.kill()
        code = gw.stop()
    assert code == 0, gw.describe()

    gw, url = gateway(xds_port)  # the control plane is down
    try:
        await wait_http(http, url + "/v2/health/ready")
        assert await split(http, url, 10) == {"b": 10}
    finally:
        gw.stop()
    out = gw.output()
    assert "serving the last good config" in out, out

    snapshot.write_text('{"isthmus_xds_snapshot": 1, "config": {"routes": [{"model": ')  # torn / corrupt
    gw, url = gateway(xds_port)
    try:
        await wait_http(http, url + "/v2/health/ready", status=503)
        gw.wait_for_line(r"xDS stream to \S+ ended")  # past the first failed attempt: still up, still not ready
        await wait_http(http, url + "/v2/health/ready", status=503)
        assert gw.poll() is None
    finally:
        gw.stop()
    out = gw.output()
    assert re.search(r"ignoring the xDS snapshot file .*gw\.json: not JSON", out), out
