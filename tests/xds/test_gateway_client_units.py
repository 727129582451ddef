"""The gateway's xDS client in pieces: the SotW subscriber (no gRPC), backoff, reconnect delays,
the snapshot file, and serving it at start."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
import yaml
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from isthmus.config import Config, ConfigError, ConfigIssue, parse_config
from isthmus.gateway import GatewayServer
from isthmus.gateway.xds_sink import GatewaySink
from isthmus.xds import Snapshot, config_from_resources, resources_from_config, type_urls
from isthmus.xds.backoff import Backoff
from isthmus.xds.client import XdsClient, gateway_node
from isthmus.xds.client_sotw import Subscriber
from isthmus.xds.follower import Follower
from isthmus.xds.follower_metrics import FollowerCounts
from isthmus.xds.persist import SavedConfig, SnapshotFile, SnapshotFileError
from tests.conftest import free_port
from tests.xds.helpers import config, doc

CDS, EDS, LDS, RDS = type_urls.CLUSTER, type_urls.ENDPOINT, type_urls.LISTENER, type_urls.ROUTE


def response(snap: Snapshot, t: str, nonce: str, names: list[str] | None = None) -> discovery_pb2.DiscoveryResponse:
    chosen = [r for n, r in snap.get(t).items() if (names is None and r.wildcard) or (names and n in names)]
    out = discovery_pb2.DiscoveryResponse(type_url=t, version_info=snap.version(t), nonce=nonce)
    out.resources.extend(r.packed for r in chosen)
    return out


def test_backoff_is_exponential_capped_and_jittered():
    b = Backoff(initial=0.1, maximum=1.0, multiplier=2.0, jitter=0.5, random=lambda: 0.0)
    assert [round(b.delay(n), 3) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    half = Backoff(initial=0.1, maximum=1.0, random=lambda: 1.0)
    assert half.delay(10) == pytest.approx(0.5)
    assert Backoff().delay(10_000) == pytest.approx(10.0, rel=0.5)  # no overflow


def test_subscriber_follows_names_acks_and_hands_out_only_complete_sets():
    snap = Snapshot.build(resources_from_config(config(weights=(70, 30))))
    sub = Subscriber(gateway_node("gw", "edge"))
    first = sub.initial_requests()
    assert [(r.type_url, list(r.resource_names)) for r in first] == [(CDS, []), (LDS, ["isthmus-http"])]
    assert first[0].node.id == "gw" and first[0].node.cluster == "edge" and not first[1].HasField("node")

    step = sub.receive(response(snap, CDS, "1"))  # clusters: now ask for their endpoints
    assert step.complete is None
    eds, ack = step.requests
    assert (eds.type_url, sorted(eds.resource_names)) == (EDS, ["a", "b"])
    assert (ack.type_url, ack.response_nonce, ack.version_info) == (CDS, "1", snap.version(CDS))

    step = sub.receive(response(snap, LDS, "2", ["isthmus-http"]))  # the listener names its routes
    assert [(r.type_url, list(r.resource_names)) for r in step.requests[:1]] == [(RDS, ["isthmus-http"])]
    assert step.complete is None and step.requests[-1].response_nonce == "2"

    step = sub.receive(response(snap, EDS, "3", ["a", "b"]))
    assert step.complete is None  # still no routes: nothing applied, EDS ACKed
    assert [r.type_url for r in step.requests] == [EDS]

    step = sub.receive(response(snap, RDS, "4", ["isthmus-http"]))
    assert step.requests == [] and step.complete is not None
    assert config_from_resources(step.complete) == config(weights=(70, 30))
    assert step.versions == snap.versions
    ack = sub.resolve(None)
    assert (ack.type_url, ack.response_nonce, ack.version_info, ack.HasField("error_detail")) == (
        RDS, "4", snap.version(RDS), False,
    )  # fmt: skip

    # a new route version that the gateway cannot use: NACKed, the accepted version stays
    snap2 = Snapshot.build(resources_from_config(config(weights=(10, 90))))
    step = sub.receive(response(snap2, RDS, "5", ["isthmus-http"]))
    nack = sub.resolve("no good")
    assert (nack.response_nonce, nack.version_info, nack.error_detail.message) == ("5", snap.version(RDS), "no good")
    assert nack.error_detail.code == 3 and list(nack.resource_names) == ["isthmus-http"]


def test_subscriber_waits_for_a_cluster_a_route_names_and_for_its_endpoints():
    old = Snapshot.build(resources_from_config(config()))
    new = Snapshot.build(resources_from_config(config(extra_backend=True)))
    sub = Subscriber(gateway_node("gw"))
    sub.initial_requests()
    for t, nonce in ((CDS, "1"), (LDS, "2"), (EDS, "3"), (RDS, "4")):
        step = sub.receive(response(old, t, nonce, None if t == CDS else ["isthmus-http", "a", "b"]))
    sub.resolve(None)
    d = doc(extra_backend=True)
    d["routes"][0]["variants"].append({"backend": "c", "weight": 1})
    ahead = Snapshot.build(resources_from_config(parse_config(yaml.safe_dump(d), "t.yaml", Path("."))))
    step = sub.receive(response(ahead, RDS, "5", ["isthmus-http"]))  # a route ahead of its cluster
    assert step.complete is None and [r.type_url for r in step.requests] == [RDS]
    step = sub.receive(response(new, CDS, "6"))  # cluster c arrives before its endpoints
    assert step.complete is None and sorted(step.requests[0].resource_names) == ["a", "b", "c"]
    step = sub.receive(response(new, EDS, "7", ["a", "b", "c"]))
    assert step.complete is not None and "c" in step.complete[EDS]


def test_subscriber_nacks_what_it_cannot_decode():
    sub = Subscriber(gateway_node("gw"))
    sub.initial_requests()
    bad = discovery_pb2.DiscoveryResponse(type_url=LDS, version_info="v1", nonce="1")
    bad.resources.append(any_pb2.Any(type_url=CDS, value=b""))
    (nack,) = sub.receive(bad).requests
    assert nack.type_url == LDS and nack.version_info == "" and "Cluster" in nack.error_detail.message
    garbage = discovery_pb2.DiscoveryResponse(type_url=LDS, version_info="v2", nonce="2")
    garbage.resources.append(any_pb2.Any(type_url=LDS, value=b"\xff\xff\xff"))
    (nack,) = sub.receive(garbage).requests
    assert "cannot decode" in nack.error_detail.message


async def test_reconnect_delays_grow_exponentially_to_the_cap():
    delays: list[float] = []
    done = asyncio.Event()

    async def sleep(d: float) -> None:
        delays.append(d)
        if len(delays) == 6:
            done.set()
        await asyncio.sleep(0)

    async def never(resources, versions):  # type: ignore[no-untyped-def]
        raise AssertionError("nothing to apply")

    backoff = Backoff(initial=0.1, maximum=0.5, jitter=0.5, random=lambda: 0.5)
    client = XdsClient(f"127.0.0.1:{free_port()}", gateway_node("gw"), never, backoff=backoff, sleep=sleep)
    task = asyncio.create_task(client.run())
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [round(d, 3) for d in delays[:6]] == [0.075, 0.15, 0.3, 0.375, 0.375, 0.375]
    assert not client.connected and client.streams >= 6


def saved(config_: Config) -> SavedConfig:
    return SavedConfig(config_, "xds-1", {"CDS": "c1"}, {"id": "gw", "cluster": ""}, 1700000000.0)


def test_snapshot_file_round_trip_is_atomic(tmp_path: Path):
    store = SnapshotFile(tmp_path / "state" / "gw.json")
    assert store.load() is None
    store.save(saved(config(weights=(1, 2))))
    store.save(saved(config(weights=(3, 4))))
    loaded = store.load()
    assert loaded is not None and loaded.config == config(weights=(3, 4)) and loaded.version == "xds-1"
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["gw.json"]  # no temporary file left


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "not JSON"),
        (b'{"isthmus_xds_snapshot": 1, "config": {"rou', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an Isthmus xDS snapshot"),
        (b'{"isthmus_xds_snapshot": 99}', "not an Isthmus xDS snapshot"),
        (b'{"isthmus_xds_snapshot": 1, "config": {"routes": 7}}', "invalid config: routes"),
    ],
)
def test_unusable_snapshot_files_are_errors(tmp_path: Path, content: bytes, reason: str):
    path = tmp_path / "gw.json"
    path.write_bytes(content)
    with pytest.raises(SnapshotFileError, match=reason):
        SnapshotFile(path).load()


async def test_a_corrupt_snapshot_file_is_logged_and_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "gw.json"
    path.write_text(json.dumps({"isthmus_xds_snapshot": 1, "config": {"backends": [{"name": "x"}]}}))
    server = GatewayServer(Config.model_validate({"listener": {"address": "127.0.0.1:0"}}))
    follower = Follower(GatewaySink(server), f"127.0.0.1:{free_port()}", gateway_node("gw"), SnapshotFile(path))
    assert not server.dataplane.configured
    with caplog.at_level(logging.ERROR):
        assert await follower.load_snapshot() is False
    assert f"ignoring the xDS snapshot file {path}: invalid config: backends" in caplog.text
    assert not server.dataplane.configured

    SnapshotFile(path).save(saved(config()))
    assert await follower.load_snapshot() is True
    assert server.dataplane.configured and server.dataplane.state.source == f"snapshot {path}"
    await server.stop()


class FakeSink:
    """A :class:`~isthmus.xds.base.ConfigSink` recording what it is given; refuses what ``refuse`` names."""

    def __init__(self, refuse: str | None = None) -> None:
        self.version = "placeholder"
        self.awaiting = False
        self.applied: list[tuple[Config, str, str]] = []
        self.refuse = refuse

    def await_first(self) -> None:
        self.awaiting = True

    async def apply(self, config: Config, version: str, source: str) -> None:
        if self.refuse is not None:
            raise ConfigError([ConfigIssue(source, None, "backends", self.refuse)])
        self.applied.append((config, version, source))
        self.version, self.awaiting = version, False


async def test_the_follower_applies_to_its_sink_and_tells_its_observer_each_answer():
    sink, counts = FakeSink(), FollowerCounts()
    follower = Follower(sink, f"127.0.0.1:{free_port()}", gateway_node("gw"), observer=counts)
    assert sink.awaiting  # not ready until the first config
    good = resources_from_config(config())
    versions = {t: "v1" for t in type_urls.ORDER}
    assert await follower.apply(good, versions) is None
    ((applied, version, source),) = sink.applied
    assert applied == config_from_resources(good) and version.startswith("xds-") and source == follower.source
    assert not sink.awaiting and sink.version == version
    assert await follower.apply(good, versions) is None  # the same set again: ACKed, not re-applied
    assert len(sink.applied) == 1
    broken = {**good, type_urls.CLUSTER: {}}
    reason = await follower.apply(broken, {t: "v2" for t in type_urls.ORDER})
    assert isinstance(reason, str) and list(follower.nacks) == [reason]
    assert (counts.acks, counts.nacks) == (2, 1)

    refusing = FakeSink(refuse="cannot start backend 'a'")
    follower = Follower(refusing, f"127.0.0.1:{free_port()}", gateway_node("gw"))  # no observer: nothing counted
    reason = await follower.apply(good, versions)
    assert reason == f"{follower.source}: backends: cannot start backend 'a'"
    assert refusing.applied == [] and refusing.version == "placeholder" and refusing.awaiting
