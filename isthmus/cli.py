"""The ``isthmus`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any, Coroutine, Sequence

from isthmus.config import Config, ConfigError, load_config
from isthmus.signals import until_signalled


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="isthmus", description="Edge-to-cluster inference gateway")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the gateway from a traffic config file or an xDS control plane")
    s.add_argument("--config", help="traffic config file (YAML); with --xds only its listener and cache sections are used")
    s.add_argument("--listen", metavar="HOST:PORT", help="listener address (overrides the file's listener.address)")
    s.add_argument("--host", help="override listener host")
    s.add_argument("--port", type=int, help="override listener port")
    s.add_argument("--workers", type=int, default=1, help="gateway processes sharing the port (SO_REUSEPORT)")
    s.add_argument("--admin-address", metavar="HOST:PORT",
                   help="admin API (/ready /live /metrics /config_dump); default: the file's telemetry.admin.address "
                        "(127.0.0.1:9901); 'off' turns it off; one worker only")  # fmt: skip
    x = s.add_argument_group("fleet (xDS)", "take routes and backends from an isthmus control-plane")
    x.add_argument("--xds", metavar="HOST:PORT", help="the control plane's xDS (ADS) address")
    x.add_argument("--node-id", help="this gateway's node id (default: the host name)")
    x.add_argument("--node-cluster", default="", help="node cluster: picks <cluster>.yaml on the control plane")
    x.add_argument("--snapshot-file", help="keep the last good config here; served at start when the control plane is down")
    s.set_defaults(func=_serve)

    v = sub.add_parser("validate", help="check traffic config files; print every error")
    v.add_argument("files", nargs="+")
    v.add_argument("--for", dest="client", choices=["envoy", "grpc"],
                   help="also list, per route, each setting Envoy (or a proxyless gRPC client) fed by "
                        "'isthmus control-plane' will not honour")  # fmt: skip
    v.add_argument("--strict", action="store_true", help="with --for: exit 1 when anything is listed")
    v.set_defaults(func=_validate)

    sc = sub.add_parser("schema", help="print the config file's JSON Schema")
    sc.set_defaults(func=_schema)

    d = sub.add_parser("demo", help="run the embedded demo (two local ONNX models, 90/10 canary)")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--grpc-port", type=int, default=None, help="also serve Open Inference Protocol V2 gRPC here")
    d.set_defaults(func=_demo)

    from isthmus.loadtest.cli import register as register_loadtest
    from isthmus.xds.cli_args import register as register_control_plane

    register_control_plane(sub)
    register_loadtest(sub)
    return p


def _validate(args: argparse.Namespace) -> int:
    if args.strict and args.client is None:
        print("isthmus validate: --strict needs --for envoy or --for grpc", file=sys.stderr)
        return 2
    failed = False
    for path in args.files:
        try:
            config = load_config(path)
        except ConfigError as exc:
            failed = True
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            continue
        print(f"{path}: ok ({len(config.backends)} backends, {len(config.routes)} routes)")
        if args.client is not None:
            listed = _print_gaps(path, config, args.client)
            failed = failed or (listed and args.strict)
    return 1 if failed else 0


def _print_gaps(path: str, config: Config, client: str) -> bool:
    """Print what ``client`` will not honour of ``config``; True when something is listed."""
    from isthmus.xds.envoy_parity import gaps

    found = gaps(config, client)  # type: ignore[arg-type]
    who = "Envoy" if client == "envoy" else "a proxyless gRPC client"
    if not found:
        print(f"{path}: {who} honours every setting")
        return False
    print(f"{path}: {len(found)} setting(s) {who} will not honour:")
    for gap in found:
        print(f"  {gap}")
    return True


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(Config.model_json_schema(), indent=2))
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.xds is not None:
        return _serve_xds(args)
    if args.config is None:
        print("isthmus serve: give --config FILE, or --xds HOST:PORT to follow a control plane", file=sys.stderr)
        return 2
    if args.node_id or args.node_cluster or args.snapshot_file:
        print("isthmus serve: --node-id, --node-cluster and --snapshot-file need --xds", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        if args.listen is not None:
            config = _listening(config, args.listen, "--listen")
        admin = _admin_at(args, config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"isthmus: refusing to start: {args.config} is invalid", file=sys.stderr)
        return 1

    if args.workers > 1:
        if args.listen is not None:
            print("isthmus serve: use --host/--port with --workers", file=sys.stderr)
            return 2
        return _serve_workers(args, config)
    return _run_admin(_serve_one(config, args.config, args.host, args.port, reuse_port=False, admin=admin))


def _serve_workers(args: argparse.Namespace, config: Config) -> int:
    from isthmus.gateway.supervisor import Supervisor, reserve_port

    host = args.host or config.listener.host
    reserved, port = reserve_port(host, args.port if args.port is not None else config.listener.port)
    print(f"isthmus: {args.workers} workers on port {port}", flush=True)
    try:
        return Supervisor(_worker_main, (args.config, host, port, args.log_level), args.workers).run()
    finally:
        reserved.close()


def _worker_main(config_path: str, host: str, port: int, log_level: str) -> None:
    logging.basicConfig(level=getattr(logging, log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _run(_serve_one(load_config(config_path), config_path, host, port, reuse_port=True))


async def _start_gateway(server: Any, api: Any) -> None:
    """Start ``server`` (its admin API, when ``api`` is not None, already listens); a backend that
    cannot start is reported on stderr and the process exits 1."""
    if api is not None:
        print(f"isthmus admin API on {api.url}", flush=True)
    try:
        await server.start()
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        raise SystemExit(1) from None


async def _serve_one(
    config: Config, source: str, host: str | None, port: int | None, reuse_port: bool, admin: AdminAt = (None, False)
) -> None:
    from isthmus.admin import GatewaySources, running_admin
    from isthmus.gateway import GatewayServer

    server = _new_gateway(GatewayServer, config, source=source, host=host, port=port, reuse_port=reuse_port)
    async with running_admin(admin[0], GatewaySources(server, scrape=server.telemetry.scrape), required=admin[1]) as api:
        await _start_gateway(server, api)
        print(f"isthmus serving {len(config.routes)} models on {server.url}", flush=True)
        try:
            await until_signalled()
        finally:
            await server.stop()


AdminAt = tuple["str | None", bool]
"""The admin API's address (None: off) and whether it was asked for (then failing to bind is fatal)."""


def _admin_at(args: argparse.Namespace, config: Config) -> AdminAt:
    """From --admin-address, else the config file's telemetry.admin.address; none with --workers > 1."""
    import pydantic

    from isthmus.config import ConfigIssue
    from isthmus.config.model import AdminConfig

    flag = args.admin_address
    if flag == "off":
        return None, False
    if args.workers > 1:
        if flag is not None:
            raise ConfigError([ConfigIssue("--admin-address", None, "", "the admin API needs --workers 1")])
        logging.getLogger("isthmus").warning("no admin API with --workers %d (each worker has its own metrics)",
                                             args.workers)  # fmt: skip
        return None, False
    if flag is None:
        telemetry = config.telemetry
        asked = "admin" in telemetry.model_fields_set and "address" in telemetry.admin.model_fields_set
        return telemetry.admin.address, asked
    try:
        return AdminConfig.model_validate({"address": flag}).address, True
    except pydantic.ValidationError as exc:
        raise ConfigError([ConfigIssue("--admin-address", None, "", e["msg"]) for e in exc.errors()]) from None


def _run_admin(coro: Coroutine[Any, Any, None]) -> int:
    """:func:`_run`, with an admin address that was asked for but cannot be bound as exit status 1."""
    from isthmus.admin import AdminBindError

    try:
        _run(coro)
    except AdminBindError as exc:
        print(f"isthmus: refusing to start: {exc}", file=sys.stderr)
        return 1
    return 0


def _listening(config: Config, address: str, source: str) -> Config:
    """``config`` with its listener bound to ``address`` (validated like the file's)."""
    import pydantic

    from isthmus.config import ConfigIssue, ListenerConfig

    try:
        listener = ListenerConfig.model_validate({**config.listener.model_dump(), "address": address})
    except pydantic.ValidationError as exc:
        raise ConfigError([ConfigIssue(source, None, "listener.address", e["msg"]) for e in exc.errors()]) from None
    return config.model_copy(update={"listener": listener})


@dataclass(frozen=True)
class XdsServe:
    """What an xDS gateway process needs (picklable, for --workers)."""

    xds: str
    node_id: str
    node_cluster: str
    snapshot_file: str | None
    config_path: str | None
    listen: str | None

    def base_config(self) -> Config:
        """Listener, cache and telemetry settings (routes and backends come from the control plane)."""
        config = load_config(self.config_path) if self.config_path is not None else Config()
        if config.routes or config.backends:
            logging.getLogger("isthmus").warning(
                "%s: routes and backends are ignored with --xds (they come from %s)", self.config_path, self.xds
            )
        config = config.model_copy(update={"routes": [], "backends": []})
        return _listening(config, self.listen, "--listen") if self.listen is not None else config


def _serve_xds(args: argparse.Namespace) -> int:
    import socket

    spec = XdsServe(
        args.xds, args.node_id or socket.gethostname(), args.node_cluster, args.snapshot_file, args.config, args.listen
    )
    try:
        config = spec.base_config()
        admin = _admin_at(args, config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print("isthmus: refusing to start: invalid listener settings", file=sys.stderr)
        return 1
    if args.workers > 1:
        from isthmus.gateway.supervisor import Supervisor, reserve_port

        host = args.host or config.listener.host
        reserved, port = reserve_port(host, args.port if args.port is not None else config.listener.port)
        print(f"isthmus: {args.workers} workers on port {port}", flush=True)
        try:
            return Supervisor(_xds_worker_main, (spec, host, port, args.log_level), args.workers).run()
        finally:
            reserved.close()
    return _run_admin(_serve_xds_one(spec, config, args.host, args.port, reuse_port=False, admin=admin))


def _xds_worker_main(spec: XdsServe, host: str, port: int, log_level: str) -> None:
    logging.basicConfig(level=getattr(logging, log_level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _run(_serve_xds_one(spec, spec.base_config(), host, port, reuse_port=True))


async def _serve_xds_one(
    spec: XdsServe, config: Config, host: str | None, port: int | None, reuse_port: bool, admin: AdminAt = (None, False)
) -> None:
    from isthmus.admin import GatewaySources, running_admin
    from isthmus.gateway import GatewayServer
    from isthmus.gateway.xds_sink import GatewaySink
    from isthmus.xds.client import gateway_node
    from isthmus.xds.follower import Follower
    from isthmus.xds.follower_metrics import FollowerCounts, observe_follower
    from isthmus.xds.persist import SnapshotFile

    source = spec.config_path or "--listen"
    server = _new_gateway(GatewayServer, config, source=source, host=host, port=port, reuse_port=reuse_port)
    snapshot = SnapshotFile(spec.snapshot_file) if spec.snapshot_file else None
    counts = FollowerCounts()
    node = gateway_node(spec.node_id, spec.node_cluster)
    follower = Follower(GatewaySink(server), spec.xds, node, snapshot, observer=counts)
    observe_follower(server.telemetry, follower.client, counts)
    sources = GatewaySources(server, follower=follower, scrape=server.telemetry.scrape)
    async with running_admin(admin[0], sources, required=admin[1]) as api:
        await _start_gateway(server, api)
        print(f"isthmus serving on {server.url}, following xDS {spec.xds} as node {spec.node_id!r}", flush=True)
        task = asyncio.create_task(follower.run())
        try:
            await until_signalled()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.stop()


def _new_gateway(cls: Any, config: Config, **kwargs: Any) -> Any:
    """``cls(config, **kwargs)`` (a GatewayServer); telemetry that cannot be set up (an access log
    that cannot be opened) exits 1 naming the field."""
    try:
        return cls(config, **kwargs)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        raise SystemExit(1) from None


def _demo(args: argparse.Namespace) -> int:
    from isthmus.demo import run_demo

    _run(run_demo(args.host, args.port, args.grpc_port))
    return 0


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed, else the standard loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)
