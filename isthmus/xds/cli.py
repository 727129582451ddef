"""``isthmus control-plane --config-dir DIR --port P [--host H] [--status-port S]``.

Its arguments are in cli_args.py (registered by ``isthmus/cli.py``); ``main(argv)`` runs it alone
(tests, ``python -m isthmus.xds.cli``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Sequence

from aiohttp import web

from isthmus.signals import until_signalled
from isthmus.xds.cache import SnapshotCache
from isthmus.xds.server import start_ads_server
from isthmus.xds.source import ConfigDirectory
from isthmus.xds.status import ClientRegistry
from isthmus.xds.status_http import status_app

log = logging.getLogger(__name__)


def run_command(args: argparse.Namespace) -> int:
    if not Path(args.config_dir).is_dir():
        print(f"isthmus control-plane: {args.config_dir} is not a directory", file=sys.stderr)
        return 2
    asyncio.run(_main(args))
    return 0


async def _main(args: argparse.Namespace) -> None:
    async with running_control_plane(
        args.config_dir, args.host, args.port, args.status_port, args.status_host, args.poll_interval, args.stage_timeout
    ) as cp:
        print(f"isthmus control-plane: xDS on {args.host}:{cp.port}"
              + (f", status on http://{args.status_host}:{cp.status_port}/status" if cp.status_port else ""),
              flush=True)  # fmt: skip
        await until_signalled()


@dataclass
class ControlPlane:
    cache: SnapshotCache
    registry: ClientRegistry
    directory: ConfigDirectory
    port: int
    status_port: int | None


@asynccontextmanager
async def running_control_plane(
    config_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    status_port: int | None = None,
    status_host: str = "127.0.0.1",
    poll_interval: float = 0.05,
    stage_timeout: float = 2.0,
) -> AsyncIterator[ControlPlane]:
    """The whole control plane, started: directory scanned, ADS server and status endpoint up."""
    cache = SnapshotCache()
    registry = ClientRegistry(cache.group_of, time.time)
    directory = ConfigDirectory(config_dir, cache, registry, time.time, stage_timeout)
    await directory.scan()  # serve what is valid from the start
    async with AsyncExitStack() as stack:
        server, bound = await start_ads_server(cache, registry, host, port)
        stack.push_async_callback(server.stop, 0.5)
        watcher = asyncio.create_task(directory.run(poll_interval))
        stack.push_async_callback(_cancel, watcher)
        status_bound = None
        if status_port is not None:
            runner = web.AppRunner(status_app(registry, cache, directory), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, status_host, status_port)
            await site.start()
            status_bound = runner.addresses[0][1]
        yield ControlPlane(cache, registry, directory, bound, status_bound)


async def _cancel(task: asyncio.Task) -> None:  # type: ignore[type-arg]
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="isthmus")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    from isthmus.xds.cli_args import register

    register(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
