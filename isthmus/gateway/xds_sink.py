"""The gateway as the xDS follower's :class:`~isthmus.xds.base.ConfigSink` (xds knows no gateway)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from isthmus.config import Config

if TYPE_CHECKING:
    from isthmus.gateway.server import GatewayServer


class GatewaySink:
    """Configs from the control plane applied to a running :class:`GatewayServer`."""

    def __init__(self, server: GatewayServer) -> None:
        self._server = server

    @property
    def version(self) -> str:
        return self._server.dataplane.state.version

    def await_first(self) -> None:
        self._server.dataplane.await_config()

    async def apply(self, config: Config, version: str, source: str) -> None:
        await self._server.apply(config, version, source)
