"""``isthmus loadtest run URL ...``: parse the options, run the load, report (``capacity``: capacity_cli.py).

``register(subparsers)`` adds the ``loadtest`` command; ``options_from_args`` turns parsed
arguments into a frozen ``LoadOptions`` (so the same run is callable from Python with
``workers.run_load``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from isthmus.config import ConfigError, load_config
from isthmus.config.units import parse_duration
from isthmus.loadtest import schedule
from isthmus.loadtest.capacity import CapacityResult
from isthmus.loadtest.errors import LoadTestError
from isthmus.loadtest.progress import ProgressDisplay
from isthmus.loadtest.report_json import build_report, dumps
from isthmus.loadtest.results import RunResult
from isthmus.loadtest.split import check_split, parse_weights, weights_from_config
from isthmus.loadtest.summary import print_summary
from isthmus.loadtest.workers import LoadOptions, LoadOptionsError, is_grpc_url, run_load_blocking
from isthmus.loadtest.workload import PROTOCOLS, WorkloadSpec


def register(subparsers: Any) -> argparse.ArgumentParser:
    lt = subparsers.add_parser("loadtest", help="open-loop load testing and capacity planning of an inference endpoint")
    sub = lt.add_subparsers(required=True, metavar="SUBCOMMAND")
    run = sub.add_parser("run", help="send an open-loop load to URL (and to nothing else)",
                         description="Latency is measured from each request's intended send time (no coordinated omission).")
    run.add_argument("url", help="the target, e.g. http://127.0.0.1:8080 (a path in the URL overrides the protocol's) "
                                 "or grpc://127.0.0.1:8081 (V2 gRPC)")
    load = run.add_argument_group("load")
    load.add_argument("--rate", type=float, help="requests/s (constant; the end rate of a ramp)")
    load.add_argument("--duration", default="30s", help="e.g. 30s, 2m (constant and ramp; at most 1h)")
    load.add_argument("--profile", choices=("constant", "step", "ramp"), default="constant")
    load.add_argument("--steps", help="step profile: RATE:DURATION,... e.g. 100:10s,200:10s")
    load.add_argument("--rate-from", type=float, default=0.0, help="ramp start rate (default 0)")
    _add_common(run, load)
    run.set_defaults(func=main_run)

    from isthmus.loadtest.capacity_cli import add_capacity_parser

    add_capacity_parser(sub, _add_common)
    return lt


def _add_common(parser: argparse.ArgumentParser, load: Any) -> None:
    """Options shared by ``run`` and ``capacity``: arrivals, connections, requests, TLS, output."""
    load.add_argument("--poisson", action="store_true", help="Poisson arrivals instead of evenly spaced ones")
    load.add_argument("--seed", type=int, default=0, help="seed for Poisson arrivals and generated inputs")
    load.add_argument("--max-requests", type=int, help="stop after this many requests")
    load.add_argument("--connections", type=int, default=16,
                      help="keep-alive connections in total (default 16); for gRPC, channels of 100 streams each")
    load.add_argument("--workers", type=int, default=1, help="processes sharing the load (for rates one cannot reach)")
    load.add_argument("--timeout", default="5s", help="per request, from when it is sent (default 5s)")
    load.add_argument("--grace", help="wait this long for stragglers at the end (default: the timeout)")
    body = parser.add_argument_group("requests")
    body.add_argument("--protocol", choices=PROTOCOLS, help="default: v2, or v2-grpc for a grpc:// target")
    body.add_argument("--model", default="model")
    body.add_argument("--path", help="request path (default: the protocol's, e.g. /v2/models/MODEL/infer)")
    body.add_argument("--shape", default="1,4", help="generated tensor shape (default 1,4)")
    body.add_argument("--datatype", default="FP32", help="generated tensor datatype (FP32, INT64, BOOL, ...)")
    body.add_argument("--distinct", type=float, default=1.0, help="fraction of requests with new inputs (the rest repeat)")
    body.add_argument("--pool", type=int, default=16, help="how many repeated inputs there are (default 16)")
    body.add_argument("--requests-file", help="JSONL file of request bodies, sent in order, cycling")
    body.add_argument("--header", action="append", default=[], metavar="K:V", help="extra header (repeatable)")
    body.add_argument("--users", type=int, default=0, help="send x-user-id drawn from this many users (sticky routing)")
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    tls.add_argument("--cacert", help="CA bundle to verify the server with")
    split = parser.add_argument_group("canary split check (from the x-isthmus-backend header)")
    split.add_argument("--weights", help="configured weights to check the observed split against, e.g. v1=90,v2=10")
    split.add_argument("--traffic-config", help="take the weights from this Isthmus traffic config file")
    split.add_argument("--route", help="with --traffic-config: the route's model (default: the only route, or --model)")
    split.add_argument("--confidence", type=float, default=0.99, help="confidence of the split intervals (default 0.99)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="OUT", help="write the JSON report (schema isthmus.loadtest/v1) to this file")
    out.add_argument("--html", metavar="OUT", help="write a self-contained HTML report with plots to this file")
    out.add_argument("--quiet", action="store_true", help="no live progress display")


def _steps(text: str) -> list[tuple[float, float]]:
    levels = []
    for item in text.split(","):
        rate, sep, duration = item.partition(":")
        if not sep:
            raise LoadOptionsError(f"bad step {item!r}: expected RATE:DURATION, e.g. 100:10s")
        try:
            levels.append((float(rate), parse_duration(duration)))
        except ValueError as exc:
            raise LoadOptionsError(f"bad step {item!r}: {exc}") from exc
    return levels


def profile_from_args(args: argparse.Namespace) -> schedule.Profile:
    if args.profile == "step":
        if not args.steps:
            raise LoadOptionsError("--profile step needs --steps RATE:DURATION,...")
        return schedule.steps(_steps(args.steps))
    if args.rate is None:
        raise LoadOptionsError(f"--profile {args.profile} needs --rate")
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise LoadOptionsError(f"--duration: {exc}") from exc
    if args.profile == "ramp":
        return schedule.ramp(args.rate_from, args.rate, duration)
    return schedule.constant(args.rate, duration)


def options_from_args(args: argparse.Namespace, profile: schedule.Profile | None = None) -> LoadOptions:
    try:
        shape = tuple(int(d) for d in args.shape.split(","))
        timeout = parse_duration(args.timeout)
        grace = parse_duration(args.grace) if args.grace is not None else None
    except ValueError as exc:
        raise LoadOptionsError(f"bad --shape, --timeout or --grace: {exc}") from exc
    headers = []
    for item in args.header:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise LoadOptionsError(f"bad --header {item!r}: expected NAME:VALUE")
        headers.append((key.strip(), value.strip()))
    protocol = args.protocol or ("v2-grpc" if is_grpc_url(args.url) else "v2")
    workload = WorkloadSpec(
        protocol=protocol, model=args.model, path=args.path, shape=shape, datatype=args.datatype.upper(),
        distinct=args.distinct, pool=args.pool, requests_file=args.requests_file, headers=tuple(headers), users=args.users,
    )
    options = LoadOptions(
        url=args.url, profile=profile or profile_from_args(args), poisson=args.poisson, seed=args.seed,
        connections=args.connections, workers=args.workers, max_requests=args.max_requests, workload=workload,
        timeout_s=timeout, grace_s=grace, insecure=args.insecure, cacert=args.cacert,
    )
    options.check()
    return options


def split_weights(args: argparse.Namespace) -> dict[str, float] | None:
    """The configured weights to check the split against, from --weights or --traffic-config."""
    if args.weights and args.traffic_config:
        raise LoadOptionsError("give --weights or --traffic-config, not both")
    if args.weights:
        try:
            return parse_weights(args.weights)
        except ValueError as exc:
            raise LoadOptionsError(f"--weights: {exc}") from exc
    if args.traffic_config:
        try:
            config = load_config(args.traffic_config)
        except ConfigError as exc:
            raise LoadOptionsError(f"--traffic-config: {exc}") from exc
        try:
            return weights_from_config(config, args.route or (args.model if len(config.routes) > 1 else None))
        except (KeyError, ValueError) as exc:
            raise LoadOptionsError(f"--traffic-config: {exc}") from exc
    return None


def write_outputs(args: argparse.Namespace, result: RunResult, out: TextIO,
                  weights: dict[str, float] | None, capacity: CapacityResult | None = None) -> dict[str, Any]:
    """Build the v1 report, print its summary, and write --json / --html."""
    split = check_split(result.variant_counts, weights, args.confidence) if weights else None
    report = build_report(result, capacity=capacity, split=split)
    print_summary(report, out)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(dumps(report))
    if args.html:
        from isthmus.loadtest.report_html import render_html  # matplotlib: only when asked for

        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(render_html(report))
    return report


def main_run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        options = options_from_args(args)
        weights = split_weights(args)
    except LoadTestError as exc:
        print(f"isthmus loadtest: {exc}", file=sys.stderr)
        return 2
    try:
        with ProgressDisplay(options.profile, quiet=args.quiet, file=out) as progress:
            result = run_load_blocking(options, on_tick=progress.update if progress.enabled else None)
    except (LoadTestError, OSError) as exc:
        print(f"isthmus loadtest: {exc}", file=sys.stderr)
        return 1
    write_outputs(args, result, out, weights)
    return 0
