"""Run the gateway: start backends, bind the listener (TLS when configured), stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from isthmus.backends import Backend, build_backend, build_backends
from isthmus.cache.redis_tier import RedisTier, connect
from isthmus.cache.service import ResultCache
from isthmus.config import Config, ConfigError, ConfigIssue
from isthmus.config.model import CacheConfig
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.http_server import HttpServer
from isthmus.gateway.middleware import Edge
from isthmus.gateway.state import GatewayState
from isthmus.gateway.tls import server_ssl_context
from isthmus.telemetry import Telemetry
from isthmus.telemetry.gauges import observe_cache, observe_config, observe_in_flight, observe_pools

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
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry | None = None,
    ):
        """``telemetry``: built from ``config.telemetry`` (and closed by :meth:`stop`) when not given."""
        self.config = config
        self._clock = clock
        self.applied_at = clock()  # wall-clock time the current generation was installed
        self._source = source
        self._backends = backends if backends is not None else build_backends(config)
        self._owns_telemetry = telemetry is None
        self.telemetry = telemetry if telemetry is not None else Telemetry.from_config(config.telemetry, source)
        self.dataplane = DataPlane(
            GatewayState.build(config, self._backends, "1", source),
            random,
            cache=build_cache(config.cache, self.telemetry),
            tenant_header=config.cache.tenant_header,
            telemetry=self.telemetry,
        )
        if self.dataplane.cache is not None:
            observe_cache(self.telemetry, self.dataplane.cache)
        observe_pools(self.telemetry, self.dataplane)
        observe_config(self.telemetry, self.dataplane)
        self._host = host if host is not None else config.listener.host
        self._port = port if port is not None else config.listener.port
        self._reuse_port = reuse_port
        self._http: HttpServer | None = None
        self._apply_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.port: int | None = None
        self._grpc: Any = None  # GrpcIngress when listener.grpc_address is set
        self.grpc_port: int | None = None  # the gRPC listener's bound port after start()

    @property
    def serving(self) -> bool:
        """Backends started and every listener bound, and not stopping (the admin API's /ready)."""
        grpc_ok = self.config.listener.grpc_address is None or self.grpc_port is not None
        return self._http is not None and not self._http.stopping and self.port is not None and grpc_ok

    @property
    def scheme(self) -> str:
        return "https" if self.config.listener.tls else "http"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def grpc_target(self) -> str | None:
        """``host:port`` of the gRPC listener (None when there is none)."""
        if self.grpc_port is None or self.config.listener.grpc_address is None:
            return None
        host = self.config.listener.grpc_address.rsplit(":", 1)[0]
        return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.grpc_port}"

    async def start(self) -> None:
        tls = self.config.listener.tls
        ssl_ctx = server_ssl_context(tls, self._source) if tls else None
        await self._start_backends()
        if self.dataplane.cache is not None:
            await self.dataplane.cache.start()
        edge = Edge(self.dataplane, self.telemetry)
        observe_in_flight(self.telemetry, "http", lambda: edge.in_flight)
        self._http = HttpServer(edge, self.config.listener.max_body_size)
        self.port = await self._http.listen(self._host, self._port, ssl_ctx, self._reuse_port)
        log.info("isthmus listening on %s", self.url)
        if self.config.listener.grpc_address is not None:
            await self._start_grpc(self.config.listener.grpc_address)

    async def _start_grpc(self, address: str) -> None:
        from isthmus.gateway.grpc_ingress import GrpcIngress  # grpc stubs load only when gRPC is on

        host, port = address.rsplit(":", 1)
        self._grpc = GrpcIngress(self.dataplane, self.config.listener.max_body_size, self.telemetry)
        calls = self._grpc.calls
        observe_in_flight(self.telemetry, "grpc", lambda: calls.in_flight)
        self.grpc_port = await self._grpc.start(host.strip("[]"), int(port), self.config.listener.tls, self._source)
        log.info("isthmus gRPC (V2, TF Serving) listening on %s%s", self.grpc_target, " (TLS)" if self.config.listener.tls else "")

    async def _start_backends(self) -> None:
        await self._start(self._backends, self._source)

    @staticmethod
    async def _start(backends: dict[str, Backend], source: str) -> None:
        """Start backends; any that cannot start (a model that won't load on its device) is a
        config error naming the backend, and those started are closed again."""
        names = list(backends)
        results = await asyncio.gather(*(backends[n].start() for n in names), return_exceptions=True)
        issues = [
            ConfigIssue(source, None, f"backends[{n}]", f"cannot start backend '{n}': {r}")
            for n, r in zip(names, results)
            if isinstance(r, Exception)
        ]
        if issues:
            await asyncio.gather(*(b.close() for b in backends.values()), return_exceptions=True)
            raise ConfigError(issues)

    async def apply(self, config: Config, version: str, source: str) -> None:
        """Install a new generation of backends and routes, atomically.

        Backends whose config is unchanged are kept (pools and ONNX sessions
        survive); new ones are started first, and if any cannot start the
        current generation stays and :class:`ConfigError` is raised. Requests
        in flight finish on the generation they started with; backends no
        longer used are closed once they can have no request left (after
        their timeout, twice for a fallback). The listener itself (address,
        TLS, body limit) is not changed by a reload.
        """
        async with self._apply_lock:
            old = self.dataplane.state
            backends: dict[str, Backend] = {}
            fresh: dict[str, Backend] = {}
            for b in config.backends:
                current = old.backends.get(b.name)
                if current is not None and _same(old.config, config, b.name):
                    backends[b.name] = current
                else:
                    backends[b.name] = fresh[b.name] = build_backend(b)
            await self._start(fresh, source)
            # the listener, the cache and the telemetry were built at start; a reload changes none of them
            local = {"listener": self.config.listener, "cache": self.config.cache, "telemetry": self.config.telemetry}
            config = config.model_copy(update=local)
            self.dataplane.swap(GatewayState.build(config, backends, version, source))
            self.applied_at = self._clock()
            kept = {id(b) for b in backends.values()}
            retired = [b for b in old.backends.values() if id(b) not in kept]
            if retired:
                grace = 2 * max((getattr(old.config.backend(b.name), "timeout", 10.0) for b in retired)) + 1.0
                task = asyncio.create_task(_close_later(retired, grace))
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
            log.info("config %s from %s applied (%d backends, %d new)", version, source, len(backends), len(fresh))

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop()
            self._grpc = None
        if self._http is not None:
            await self._http.stop()
            self._http = None
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        current = {id(b): b for b in [*self._backends.values(), *self.dataplane.state.backends.values()]}
        await asyncio.gather(*(b.close() for b in current.values()), return_exceptions=True)
        if self.dataplane.cache is not None:
            await self.dataplane.cache.close()
        if self._owns_telemetry:
            await self.telemetry.aclose()


def build_cache(config: CacheConfig, telemetry: Telemetry | None = None) -> ResultCache:
    """L1 always (only routes with ``cache.enabled`` use it); Redis as L2 when configured."""
    l2 = RedisTier(connect(config.redis), config.redis.timeout) if config.redis is not None else None
    return ResultCache(config, l2, spans=telemetry.steps if telemetry is not None else None)


def _same(old: Config, new: Config, name: str) -> bool:
    try:
        return old.backend(name) == new.backend(name)
    except KeyError:
        return False


async def _close_later(backends: list[Backend], delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    finally:
        await asyncio.gather(*(b.close() for b in backends), return_exceptions=True)
