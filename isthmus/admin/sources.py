"""The real :class:`~isthmus.admin.base.AdminSources`: a running gateway, its xDS follower, its telemetry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from isthmus.admin.base import Readiness, Scrape
from isthmus.admin.dump import config_dump

if TYPE_CHECKING:  # the follower pulls in gRPC and the xDS protos; a file-fed gateway never loads them
    from isthmus.gateway import GatewayServer
    from isthmus.xds.follower import Follower

Scraper = Callable[["str | None"], "tuple[bytes, str]"]
"""``scrape(accept)`` of the telemetry: the Prometheus exposition for that Accept header, and its content type."""


class GatewaySources:
    """Reads a :class:`GatewayServer` (and its :class:`Follower` when fed by xDS); changes nothing."""

    def __init__(self, server: GatewayServer, *, follower: Follower | None = None, scrape: Scraper | None = None):
        self._server = server
        self._follower = follower
        self._scrape = scrape

    def readiness(self) -> Readiness:
        reasons = []
        server = self._server
        if server.port is None:
            reasons.append("starting: backends are starting and the listener is not bound yet")
        elif not server.serving:
            reasons.append("stopping: the listener is closed, requests in flight are draining")
        if not server.dataplane.configured:
            where = f"the control plane {self._follower.client.target}" if self._follower else "the control plane"
            reasons.append(f"no config yet: waiting for the first one from {where}")
        return Readiness(not reasons, tuple(reasons))

    def metrics(self, accept: str | None) -> Scrape | None:
        if self._scrape is None:
            return None
        body, content_type = self._scrape(accept)
        return Scrape(body, content_type)

    def config_dump(self) -> dict[str, Any]:
        state = self._server.dataplane.state
        if self._follower is None:
            return config_dump(state, applied_at=self._server.applied_at, source={"kind": "file", "path": state.source})
        follower, client = self._follower, self._follower.client
        node = {"id": client.node.id, "cluster": client.node.cluster}
        if not self._server.dataplane.configured:
            kind = "none"  # a placeholder with no routes until the first config
        elif state.source == follower.source:
            kind = "xds"
        else:
            kind = "snapshot"  # the last good config from the snapshot file, while the control plane is away
        source: dict[str, Any] = {"kind": kind, "control_plane": client.target, "node": node}
        if kind == "snapshot":
            source["path"] = state.source.removeprefix("snapshot ")
        nacks = list(follower.nacks)
        xds = {
            "control_plane": client.target,
            "node": node,
            "connected": client.connected,
            "streams": client.streams,
            "acked_version": state.version if kind == "xds" else None,
            "acked_versions": {url.rsplit(".", 1)[-1]: v for url, v in client.accepted_versions.items()},
            "recent_nacks": len(nacks),
            "last_nack": nacks[-1] if nacks else None,
        }
        return config_dump(state, applied_at=self._server.applied_at, source=source, xds=xds)
