"""The ``control-plane`` subcommand's arguments, kept apart so ``isthmus --help`` imports no gRPC."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("control-plane", help="serve the traffic config files of a directory over xDS (ADS)")
    p.add_argument("--config-dir", required=True, help="directory of <node-cluster>.yaml files; default.yaml for the rest")
    p.add_argument("--port", type=int, required=True, help="xDS gRPC port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="xDS bind address (default 127.0.0.1)")
    p.add_argument("--status-port", type=int, help="serve GET /status (JSON) on this port")
    p.add_argument("--status-host", default="127.0.0.1")
    p.add_argument("--poll-interval", type=float, default=0.05, help="seconds between directory scans")
    p.add_argument("--stage-timeout", type=float, default=2.0, help="max wait for ACKs between rollout stages")
    p.set_defaults(func=_run)
    return p



def _run(args: argparse.Namespace) -> int:
    from isthmus.xds.cli import run_command

    return run_command(args)
