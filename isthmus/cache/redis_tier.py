"""L2: Redis (standalone URL, Cluster or Sentinel) with a blocking pool and a few-ms timeout.

Every failure — connection refused, timeout, a wrong answer — is raised as
:class:`CacheError`; the caller fails open. Also the lock and wait used for
coalescing across gateway replicas.

GETs are auto-pipelined: those made in one turn of the event loop go to Redis as one MGET
(``mget_nonatomic`` on a Cluster), as ioredis does. One redis-py command costs ~50 us of the
gateway's CPU whatever it carries, an MGET ~2.6 us per key for 32 keys.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisClusterException, RedisError

# What redis-py raises for a failing server: RedisClusterException is not a RedisError.
_REDIS_FAILURES = (RedisError, RedisClusterException, OSError)
_START_FAILURES = (TimeoutError, *_REDIS_FAILURES)  # a tuple here: Cython refuses a starred except clause

from isthmus.cache.errors import CacheError, RedisConnecting
from isthmus.config.model import RedisConfig

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def connect(cfg: RedisConfig) -> Any:
    """A redis-py asyncio client for the configured deployment (no I/O until first use)."""
    common: dict[str, Any] = {"socket_timeout": cfg.timeout, "socket_connect_timeout": max(cfg.timeout, 0.05)}
    if cfg.cluster_nodes:
        nodes = [ClusterNode(*_host_port(n)) for n in cfg.cluster_nodes]
        return RedisCluster(startup_nodes=nodes, max_connections=cfg.max_connections, **common)
    if cfg.sentinels:
        sentinel = Sentinel([_host_port(s) for s in cfg.sentinels], **common)
        return sentinel.master_for(cfg.sentinel_service or "mymaster", **common)
    pool = aioredis.BlockingConnectionPool.from_url(
        cfg.url or "redis://127.0.0.1:6379/0", max_connections=cfg.max_connections, timeout=cfg.timeout, **common
    )
    return aioredis.Redis(connection_pool=pool)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)  # [::1]:7000 -> ("::1", 7000)


class RedisTier:
    def __init__(self, client: Any, timeout: float, connect_timeout: float = 1.0):
        self._client = client
        self._timeout = timeout
        self._connect_timeout = max(connect_timeout, timeout)
        self._warming: asyncio.Task[None] | None = None
        self._gets: list[tuple[str, asyncio.Future[bytes | None]]] = []  # waiting for this turn's MGET
        self._mgets: set[asyncio.Task[None]] = set()

    async def _warm(self) -> None:
        """Connect (a Cluster client also learns the slot map, ~10ms): more than one command's few ms."""
        async with asyncio.timeout(self._connect_timeout):
            if isinstance(self._client, RedisCluster):
                await self._client.initialize()
            else:
                await self._client.ping()

    async def _ready(self) -> None:
        """Connection set-up runs in its own task, so a command's timeout never cancels it half-way
        (a cancelled Cluster initialisation starts over, and could never finish within a few ms).
        Raises RedisConnecting while it runs, CacheError once when it failed (the next call retries)."""
        task = self._warming
        if task is not None and task.done() and (task.cancelled() or task.exception() is not None):
            self._warming = None
            exc = "cancelled" if task.cancelled() else (str(task.exception()) or type(task.exception()).__name__)
            raise CacheError(f"redis connect failed: {exc}")
        if task is None:
            task = self._warming = asyncio.ensure_future(self._warm())
        try:
            await asyncio.wait_for(asyncio.shield(task), self._timeout)
        except TimeoutError:
            if not task.done():
                raise RedisConnecting(f"redis still connecting after {self._timeout * 1000:g}ms") from None
            raise CacheError(f"redis connect took over {self._connect_timeout * 1000:g}ms") from None

    async def start(self) -> bool:
        """Connect now (at gateway start) rather than on the first request; False when Redis is
        not reachable yet — the cache then fails open and keeps trying, as on any other failure."""
        if self._warming is None:
            self._warming = asyncio.ensure_future(self._warm())
        warming = self._warming
        try:
            await asyncio.shield(warming)
        except asyncio.CancelledError:
            if not warming.cancelled():
                raise  # the gateway's start-up itself was cancelled
            self._warming = None
            return False
        except _START_FAILURES:
            self._warming = None
            return False
        return True

    def _warm_done(self) -> bool:
        t = self._warming
        return t is not None and t.done() and not t.cancelled() and t.exception() is None

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            if not self._warm_done():
                await self._ready()
            async with asyncio.timeout(self._timeout):
                return await coro
        except TimeoutError:
            raise CacheError(f"redis {what} took over {self._timeout * 1000:g}ms") from None
        except _REDIS_FAILURES as exc:
            raise CacheError(f"redis {what} failed: {exc}") from None
        finally:
            coro.close()  # not sent when still connecting: no "never awaited" warning

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, fetched with the other GETs of this event-loop turn in one MGET."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes | None] = loop.create_future()
        self._gets.append((key, fut))
        if len(self._gets) == 1:
            loop.call_soon(self._send_gets)
        value = await fut
        if value is not None and not isinstance(value, bytes):
            raise CacheError(f"redis GET answered {type(value).__name__}, not bytes")
        return value

    def _send_gets(self) -> None:
        batch, self._gets = self._gets, []
        task = asyncio.get_running_loop().create_task(self._mget(batch))
        self._mgets.add(task)
        task.add_done_callback(self._mgets.discard)

    async def _mget(self, batch: list[tuple[str, asyncio.Future[bytes | None]]]) -> None:
        waiting = [(key, fut) for key, fut in batch if not fut.done()]  # callers may have given up
        if not waiting:
            return
        keys = [key for key, _ in waiting]
        cluster = isinstance(self._client, RedisCluster)
        try:
            values = await self._call(
                "GET" if len(keys) == 1 else f"MGET of {len(keys)}",
                self._client.mget_nonatomic(keys) if cluster else self._client.mget(keys),
            )
            if not isinstance(values, list) or len(values) != len(keys):
                raise CacheError(f"redis MGET answered {type(values).__name__}, not {len(keys)} values")
        except CacheError as exc:
            for _, fut in waiting:
                if not fut.done():
                    fut.set_exception(type(exc)(str(exc)))  # one exception each: each caller raises its own
            return
        except BaseException as exc:  # cancelled with the gateway: the callers must not wait forever
            for _, fut in waiting:
                if not fut.done():
                    fut.set_exception(CacheError(f"redis GET abandoned: {type(exc).__name__}"))
            raise
        for (_, fut), value in zip(waiting, values):
            if not fut.done():
                fut.set_result(value)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._call("SET", self._client.set(key, value, px=max(1, int(ttl * 1000))))

    # distributed coalescing -------------------------------------------------------------------
    async def try_lock(self, key: str, ttl: float) -> str | None:
        """A token when this replica now holds the key's compute lock, else None."""
        token = secrets.token_hex(8)
        ok = await self._call("SET NX", self._client.set(_lock(key), token, nx=True, px=max(1, int(ttl * 1000))))
        return token if ok else None

    async def unlock(self, key: str, token: str) -> None:
        await self._call("EVAL", self._client.eval(_RELEASE, 1, _lock(key), token))

    async def locked(self, key: str) -> bool:
        return bool(await self._call("EXISTS", self._client.exists(_lock(key))))

    async def close(self) -> None:
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
        for task in list(self._mgets):
            task.cancel()
        try:
            await self._client.aclose()
        except _REDIS_FAILURES:
            pass


def _lock(key: str) -> str:
    return key + ":lock"
