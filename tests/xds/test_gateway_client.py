"""Isthmus gateways as xDS clients, against real peers: the real control plane over real gRPC, a
real gateway over real HTTP, tiny V2 backends answering their own name (all in this process; the
same with real processes: tests/integration/xds/test_gateway_processes.py)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from isthmus.config import Config
from isthmus.xds import Snapshot, resources_from_config
from isthmus.xds.cli import running_control_plane
from tests.waiting import until
from tests.xds.following import following_gateway, infer, named_backends, split, traffic, weights_of
from tests.xds.helpers import write


@pytest.fixture
async def backends(serve_app) -> dict[str, str]:
    return await named_backends(serve_app)


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
                answered = statuses.total()  # each generation serves a few requests before the next change
                await until(lambda: statuses.total() >= answered + 6, f"6 answers after change {i}")
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
