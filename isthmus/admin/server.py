"""The admin listener: its own port, on the project's HTTP/1.1 server, loopback by default."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from isthmus.admin.base import AdminSources
from isthmus.admin.handlers import AdminHandler, is_loopback
from isthmus.gateway.http_server import HttpServer

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1:9901"
_MAX_BODY = 64 * 1024  # GET only: no request needs a body


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) -> (host, port); ValueError saying what is wrong."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT with a port 0-65535, got {address!r}")
    return host.strip("[]"), int(port)


class AdminServer:
    """``await start()`` binds (``port`` is then the bound port); ``await stop()`` closes it."""

    def __init__(self, address: str, sources: AdminSources):
        self._host, self._port = split_address(address)
        # bound to loopback: answer only requests addressed to a loopback name (no DNS rebinding)
        handler = AdminHandler(sources, loopback_hosts_only=is_loopback(self._host))
        self._http = HttpServer(handler, _MAX_BODY, idle_timeout=30.0)
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def start(self) -> None:
        self.port = await self._http.listen(self._host, self._port)
        if not is_loopback(self._host):
            log.warning(
                "admin API bound to %s:%s, beyond this host: it shows the config (secrets redacted) "
                "and metrics to anyone who can reach it", self._host, self.port,
            )  # fmt: skip
        log.info("admin API on %s", self.url)

    async def stop(self) -> None:
        await self._http.stop(grace=1.0)


@asynccontextmanager
async def running_admin(
    address: str | None, sources: AdminSources, *, required: bool
) -> AsyncIterator[AdminServer | None]:
    """The admin API for a block (None when ``address`` is None: turned off).

    A port that cannot be bound stops the gateway when the address was asked for (``required``:
    a flag, or the config file's ``telemetry.admin.address``), and is a warning when it is only the
    default: the data plane serves without its admin API rather than not at all.
    """
    if address is None:
        yield None
        return
    admin = AdminServer(address, sources)
    try:
        await admin.start()
    except OSError as exc:
        if required:
            raise AdminBindError(f"cannot bind the admin API to {address}: {exc.strerror or exc}") from None
        log.warning("admin API not started: cannot bind the default %s (%s); set telemetry.admin.address "
                    "or --admin-address", address, exc.strerror or exc)  # fmt: skip
        yield None
        return
    try:
        yield admin
    finally:
        await admin.stop()


class AdminBindError(Exception):
    """The admin API's address, asked for explicitly, cannot be bound."""
