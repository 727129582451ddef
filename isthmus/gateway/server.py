"""Run the gateway: start backends, bind the listener (TLS when configured), stop cleanly."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from aiohttp import web

from isthmus.backends import Backend, build_backends
from isthmus.config import Config, ConfigError, ConfigIssue
from isthmus.gateway.app import make_server
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.state import GatewayState
from isthmus.gateway.tls import server_ssl_context

log = logging.getLogger(__name__)


class GatewayServer:
    """One gateway process's listener. ``port`` is the bound port after :meth:`start`."""

    def __init__(
        self,
        config: Config,
        *,
        source: str = "file",
        backends: dict[str, Backend] | None = None,
        random: Callable[[], float] | None = None,
        host: str | None = None,
        port: int | None = None,
        reuse_port: bool = False,
    ):
        self.config = config
        self._source = source
        self._backends = backends if backends is not None else build_backends(config)
        self.dataplane = DataPlane(GatewayState.build(config, self._backends, "1", source), random)
        self._host = host if host is not None else config.listener.host
        self._port = port if port is not None else config.listener.port
        self._reuse_port = reuse_port
        self._runner: web.ServerRunner | None = None
        self.port: int | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.config.listener.tls else "http"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"{self.scheme}://{host}:{self.port}"

    async def start(self) -> None:
        tls = self.config.listener.tls
        ssl_ctx = server_ssl_context(tls, self._source) if tls else None
        await self._start_backends()
        server = make_server(self.dataplane, self.config.listener.max_body_size)
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self._host, self._port, ssl_context=ssl_ctx, backlog=1024, reuse_port=self._reuse_port or None
        )
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("isthmus listening on %s", self.url)

    async def _start_backends(self) -> None:
        """Start every backend; any that cannot start (a model that won't load on its device)
        stops the gateway with a config error naming the backend."""
        names = list(self._backends)
        results = await asyncio.gather(*(self._backends[n].start() for n in names), return_exceptions=True)
        issues = [
            ConfigIssue(self._source, None, f"backends[{n}]", f"cannot start backend '{n}': {r}")
            for n, r in zip(names, results)
            if isinstance(r, Exception)
        ]
        if issues:
            await asyncio.gather(*(b.close() for b in self._backends.values()), return_exceptions=True)
            raise ConfigError(issues)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        current = {id(b): b for b in [*self._backends.values(), *self.dataplane.state.backends.values()]}
        await asyncio.gather(*(b.close() for b in current.values()), return_exceptions=True)
