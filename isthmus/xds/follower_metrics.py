"""The follower's metrics: its ACK/NACK counts (a :class:`~isthmus.xds.base.FollowerObserver`)
and its stream's state, exported through telemetry's leaf API (``Telemetry.observe``).

Read at collection time only (callbacks may run on the OTLP exporter's thread: plain ints).
"""

from __future__ import annotations

from isthmus.telemetry import Telemetry
from isthmus.xds.client import XdsClient

NO_ATTRS: dict[str, str] = {}


class FollowerCounts:
    """Complete resource sets the follower answered, by ACK or NACK."""

    def __init__(self) -> None:
        self.acks = 0
        self.nacks = 0

    def answered(self, nack_reason: str | None) -> None:
        if nack_reason is None:
            self.acks += 1
        else:
            self.nacks += 1


def observe_follower(telemetry: Telemetry, client: XdsClient, counts: FollowerCounts) -> None:
    """``isthmus.xds.connected``, ``isthmus.xds.streams`` and ``isthmus.xds.updates``."""
    telemetry.observe(
        "isthmus.xds.connected", lambda: [(int(client.connected), NO_ATTRS)],
        kind="gauge", unit="1", description="1 while the xDS stream to the control plane is up",
    )  # fmt: skip
    telemetry.observe(
        "isthmus.xds.streams", lambda: [(client.streams, NO_ATTRS)],
        kind="counter", unit="{stream}", description="xDS stream attempts (reconnects included)",
    )  # fmt: skip
    telemetry.observe(
        "isthmus.xds.updates",
        lambda: [(counts.acks, {"result": "ack"}), (counts.nacks, {"result": "nack"})],
        kind="counter", unit="{update}", description="Complete xDS resource sets answered, by ACK or NACK",
    )  # fmt: skip
