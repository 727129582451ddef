"""The admin listener: its own port, on the project's HTTP/1.1 server, loopback by default."""

from __future__ import annotations

import ipaddress
import logging

from isthmus.admin.base import AdminSources
from isthmus.admin.handlers import AdminHandler
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminServer:
    """``await start()`` binds (``port`` is then the bound port); ``await stop()`` closes it."""

    def __init__(self, address: str, sources: AdminSources):
        self._host, self._port = split_address(address)
        self._http = HttpServer(AdminHandler(sources), _MAX_BODY, idle_timeout=30.0)
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
