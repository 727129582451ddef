"""GatewaySources over a real GatewayServer: readiness through its life, the config dump of a file-fed
gateway (and after a reload), and of an xDS-fed one following the real control plane (in-process, real gRPC)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from isthmus.admin import REDACTED, GatewaySources
from isthmus.admin.dump import config_dump
from isthmus.backends.fake import FakeBackend
from isthmus.config import Config
from isthmus.gateway import GatewayServer
from isthmus.gateway.state import GatewayState
from isthmus.gateway.xds_sink import GatewaySink
from isthmus.xds.backoff import Backoff
from isthmus.xds.cli import running_control_plane
from isthmus.xds.client import gateway_node
from isthmus.xds.follower import Follower
from isthmus.xds.persist import SavedConfig, SnapshotFile
from tests.conftest import free_port
from tests.waiting import until
from tests.xds.helpers import write

DOC: dict[str, Any] = {
    "listener": {"address": "127.0.0.1:0"},
    "cache": {"redis": {"url": "redis://ops:hunter2-secret@cache.internal:6379/0"}, "memory_max_bytes": "1MiB"},
    "backends": [
        {"name": "a", "protocol": "kserve-v2", "endpoints": ["http://svc:tok3n-secret@a.internal:8080"],
         "version": "1", "timeout": "2s", "max_connections": 7},
        {"name": "b", "protocol": "kserve-v2", "endpoints": ["http://b.internal:8080"]},
    ],
    "routes": [{
        "model": "m",
        "variants": [{"backend": "a", "weight": 90}, {"backend": "b", "weight": 10, "version": "2"}],
        "sticky_header": "x-user", "override_header": "x-variant", "fallback": "b",
        "cache": {"enabled": True, "ttl": "30s"},
    }],
}  # fmt: skip


class Clock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def fakes(config: Config) -> dict[str, FakeBackend]:
    return {b.name: FakeBackend(b.name) for b in config.backends}


def expected_config(config: Config, versions: list[str | None], shares: list[float]) -> dict[str, Any]:
    doc = config.model_dump(mode="json")
    for v, version, share in zip(doc["routes"][0]["variants"], versions, shares):
        v["version"], v["share"] = version, share
    doc["cache"]["redis"]["url"] = f"redis://ops:{REDACTED}@cache.internal:6379/0"
    doc["backends"][0]["endpoints"] = [f"http://{REDACTED}@a.internal:8080"]
    return doc


async def test_file_fed_gateway_readiness_and_dump_through_its_life():
    config = Config.model_validate(DOC)
    clock = Clock()
    server = GatewayServer(config, source="/etc/isthmus/traffic.yaml", backends=fakes(config), clock=clock)
    sources = GatewaySources(server)
    before = sources.readiness()
    assert not before.ready and before.reasons[0].startswith("starting:")
    await server.start()
    try:
        assert sources.readiness().ready
        dump = sources.config_dump()
        assert dump["version"] == "1"
        assert dump["source"] == {"kind": "file", "path": "/etc/isthmus/traffic.yaml"}
        assert dump["applied_at"] == "2023-11-14T22:13:20Z" and dump["applied_at_unix"] == clock.t
        assert dump["config"] == expected_config(config, ["1", "2"], [0.9, 0.1])
        assert "xds" not in dump
        text = orjson.dumps(dump).decode()
        assert "hunter2-secret" not in text and "tok3n-secret" not in text

        # a reload: new weights and version, new applied time; the listener and cache stay
        clock.t += 60
        reloaded = Config.model_validate({**DOC, "routes": [{**DOC["routes"][0], "variants": [
            {"backend": "a", "weight": 1}, {"backend": "b", "weight": 3}]}],
            "cache": {"memory_max_bytes": "2MiB"}})  # fmt: skip
        await server.apply(reloaded, "2", "/etc/isthmus/traffic.yaml")
        dump = sources.config_dump()
        assert dump["version"] == "2" and dump["applied_at_unix"] == clock.t
        variants = dump["config"]["routes"][0]["variants"]
        assert [(v["backend"], v["weight"], v["share"], v["version"]) for v in variants] == [
            ("a", 1, 0.25, "1"), ("b", 3, 0.75, None)]  # fmt: skip
        assert dump["config"]["cache"]["memory_max_bytes"] == 2**20  # a reload keeps the cache it started with
    finally:
        await server.stop()
    after = sources.readiness()
    assert not after.ready and after.reasons[0].startswith("stopping:")


def test_a_route_with_no_traffic_has_zero_shares():
    config = Config.model_validate({**DOC, "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 0}]}]})
    dump = config_dump(GatewayState.build(config, {}, "v", "f"), applied_at=0.0, source={"kind": "file"})
    assert dump["config"]["routes"][0]["variants"] == [{"backend": "a", "weight": 0, "version": "1", "share": 0.0}]
    assert dump["applied_at"] == "1970-01-01T00:00:00Z"


def test_the_dump_redacts_its_metadata_too():
    config = Config.model_validate({"listener": {"address": "127.0.0.1:0"}})
    dump = config_dump(GatewayState.build(config, {}, "v", "f"), applied_at=0.0,
                       source={"kind": "xds", "control_plane": "u:pw@cp.internal:18000"})  # fmt: skip
    assert dump["source"]["control_plane"] == f"u:{REDACTED}@cp.internal:18000"


async def test_xds_fed_gateway_dump_follows_the_control_plane_and_reports_nacks(tmp_path):
    doc = {k: v for k, v in DOC.items() if k in ("backends", "routes")}
    write(tmp_path / "default.yaml", doc)
    base = Config.model_validate({"listener": {"address": "127.0.0.1:0"}})
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        target = f"127.0.0.1:{cp.port}"
        server = GatewayServer(base, source="--listen", backends={})
        follower = Follower(GatewaySink(server), target, gateway_node("gw-admin", "blue"), None,
                            backoff=Backoff(initial=0.05, maximum=0.3), initial_timeout=1.0)  # fmt: skip
        sources = GatewaySources(server, follower=follower)
        await server.start()
        try:
            waiting = sources.readiness()
            assert not waiting.ready
            assert waiting.reasons == (f"no config yet: waiting for the first one from the control plane {target}",)
            dump = sources.config_dump()
            assert dump["source"] == {"kind": "none", "control_plane": target, "node": {"id": "gw-admin", "cluster": "blue"}}
            assert dump["xds"]["acked_version"] is None and dump["config"]["routes"] == []

            task = asyncio.create_task(follower.run())
            try:
                await until(lambda: sources.readiness().ready, "the first config")
                dump = sources.config_dump()
                assert dump["source"]["kind"] == "xds"
                assert dump["version"] == server.dataplane.state.version and dump["version"].startswith("xds-")
                acked = dump["xds"].pop("acked_versions")
                assert dump["xds"] == {
                    "control_plane": target, "node": {"id": "gw-admin", "cluster": "blue"}, "connected": True,
                    "streams": 1, "acked_version": dump["version"], "recent_nacks": 0, "last_nack": None,
                }  # fmt: skip
                # per resource type, by the type's short name; every type the gateway subscribes to was ACKed
                assert set(acked) == {"Listener", "RouteConfiguration", "Cluster"}
                assert all(v for v in acked.values())
                routes = dump["config"]["routes"]
                assert [(v["backend"], v["weight"], v["share"]) for v in routes[0]["variants"]] == [
                    ("a", 90, 0.9), ("b", 10, 0.1)]  # fmt: skip
                assert routes[0]["fallback"] == "b" and routes[0]["cache"]["ttl"] == 30.0
                (a,) = [b for b in dump["config"]["backends"] if b["name"] == "a"]
                assert a["endpoints"] == [f"http://{REDACTED}@a.internal:8080"] and a["max_connections"] == 7
                good = dump["version"]

                # a config the gateway cannot start (missing model): NACKed, the dump keeps the good one
                missing = tmp_path / "broken.onnx"
                missing.write_bytes(b"not an onnx model")
                broken = {"backends": [*doc["backends"], {"name": "local", "protocol": "onnx",
                          "model_path": str(missing), "warmup": False}],
                          "routes": [{**doc["routes"][0], "variants": [{"backend": "local", "weight": 1}]}]}  # fmt: skip
                write(tmp_path / "default.yaml", broken)
                await until(lambda: sources.config_dump()["xds"]["recent_nacks"] > 0, "a NACK")
                dump = sources.config_dump()
                assert dump["version"] == good and dump["xds"]["acked_version"] == good
                assert "cannot start backend 'local'" in dump["xds"]["last_nack"]
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await server.stop()


async def test_xds_gateway_serving_its_snapshot_file_while_the_control_plane_is_away(tmp_path):
    config = Config.model_validate({k: v for k, v in DOC.items() if k in ("backends", "routes")})
    snapshot = SnapshotFile(tmp_path / "gw.json")
    snapshot.save(SavedConfig(config, "xds-saved", {"CDS": "1"}, {"id": "gw-admin", "cluster": ""}, 0.0))
    server = GatewayServer(Config.model_validate({"listener": {"address": "127.0.0.1:0"}}), source="--listen",
                           backends=fakes(config))  # fmt: skip
    target = f"127.0.0.1:{free_port()}"  # nothing listens there
    follower = Follower(GatewaySink(server), target, gateway_node("gw-admin"), snapshot,
                        backoff=Backoff(initial=0.05, maximum=0.3), initial_timeout=0.2)  # fmt: skip
    sources = GatewaySources(server, follower=follower)
    await server.start()
    task = asyncio.create_task(follower.run())
    try:
        await until(lambda: sources.readiness().ready, "the snapshot to be served")
        dump = sources.config_dump()
        assert dump["source"] == {"kind": "snapshot", "control_plane": target, "node": {"id": "gw-admin", "cluster": ""},
                                  "path": str(tmp_path / "gw.json")}  # fmt: skip
        assert dump["version"] == "xds-saved" and dump["xds"]["acked_version"] is None
        assert dump["xds"]["connected"] is False and dump["xds"]["streams"] >= 1
        assert [v["backend"] for v in dump["config"]["routes"][0]["variants"]] == ["a", "b"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
