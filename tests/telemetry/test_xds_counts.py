"""xDS metrics: the follower's ACK/NACK counts, stream state, and the config version served."""

from __future__ import annotations

from isthmus.config import Config
from isthmus.gateway import GatewayServer
from isthmus.gateway.xds_sink import GatewaySink
from isthmus.xds import resources_from_config, type_urls
from isthmus.xds.client import gateway_node
from isthmus.xds.follower import Follower
from isthmus.xds.follower_metrics import FollowerCounts, observe_follower
from tests.conftest import free_port
from tests.telemetry.helpers import plain_telemetry, scraped, series
from tests.xds.helpers import config


async def test_acks_nacks_and_the_version_applied_are_exported():
    telemetry = plain_telemetry()
    server = GatewayServer(Config.model_validate({"listener": {"address": "127.0.0.1:0"}}), telemetry=telemetry)
    counts = FollowerCounts()
    follower = Follower(GatewaySink(server), f"127.0.0.1:{free_port()}", gateway_node("gw"), observer=counts)
    observe_follower(telemetry, follower.client, counts)
    good = resources_from_config(config())
    versions = {t: "v1" for t in type_urls.ORDER}
    assert await follower.apply(good, versions) is None
    assert await follower.apply(good, versions) is None  # the same set again: ACKed, not re-applied
    broken = {**good, type_urls.CLUSTER: {}}  # routes name clusters that are not there
    assert isinstance(await follower.apply(broken, {t: "v2" for t in type_urls.ORDER}), str)

    samples = scraped(telemetry)
    updates = {dict(k)["result"]: v for k, v in series(samples, "isthmus_xds_updates_total").items()}
    assert updates == {"ack": 2, "nack": 1}
    assert list(series(samples, "isthmus_xds_connected").values()) == [0]
    assert list(series(samples, "isthmus_xds_streams_total").values()) == [0]
    (info,) = series(samples, "isthmus_config_info")
    assert dict(info)["version"] == server.dataplane.state.version and dict(info)["version"].startswith("xds-")
    assert dict(info)["source"] == follower.source
    await server.stop()
    telemetry.close()
