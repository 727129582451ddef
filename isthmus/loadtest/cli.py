"""``isthmus loadtest run URL ...``: parse the options, run the load, print a summary.

``register(subparsers)`` adds the ``loadtest`` command; ``options_from_args`` turns parsed
arguments into a frozen ``LoadOptions`` (so the same run is callable from Python with
``workers.run_load``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from isthmus.config.units import parse_duration
from isthmus.loadtest import schedule
from isthmus.loadtest.progress import ProgressDisplay
from isthmus.loadtest.results import RunResult
from isthmus.loadtest.workers import LoadOptions, LoadOptionsError, WorkerError, run_load_blocking
from isthmus.loadtest.workload import PROTOCOLS, WorkloadError, WorkloadSpec


def register(subparsers: Any) -> argparse.ArgumentParser:
    lt = subparsers.add_parser("loadtest", help="open-loop load testing of an inference endpoint")
    sub = lt.add_subparsers(required=True, metavar="SUBCOMMAND")
    run = sub.add_parser("run", help="send an open-loop load to URL (and to nothing else)",
                         description="Latency is measured from each request's intended send time (no coordinated omission).")
    run.add_argument("url", help="the target, e.g. http://127.0.0.1:8080 (a path in the URL overrides the protocol's)")
    load = run.add_argument_group("load")
    load.add_argument("--rate", type=float, help="requests/s (constant; the end rate of a ramp)")
    load.add_argument("--duration", default="30s", help="e.g. 30s, 2m (constant and ramp; at most 1h)")
    load.add_argument("--profile", choices=("constant", "step", "ramp"), default="constant")
    load.add_argument("--steps", help="step profile: RATE:DURATION,... e.g. 100:10s,200:10s")
    load.add_argument("--rate-from", type=float, default=0.0, help="ramp start rate (default 0)")
    load.add_argument("--poisson", action="store_true", help="Poisson arrivals instead of evenly spaced ones")
    load.add_argument("--seed", type=int, default=0, help="seed for Poisson arrivals and generated inputs")
    load.add_argument("--max-requests", type=int, help="stop after this many requests")
    load.add_argument("--connections", type=int, default=16, help="keep-alive connections in total (default 16)")
    load.add_argument("--workers", type=int, default=1, help="processes sharing the load (for rates one cannot reach)")
    load.add_argument("--timeout", default="5s", help="per request, from when it is sent (default 5s)")
    load.add_argument("--grace", help="wait this long for stragglers at the end (default: the timeout)")
    body = run.add_argument_group("requests")
    body.add_argument("--protocol", choices=PROTOCOLS, default="v2")
    body.add_argument("--model", default="model")
    body.add_argument("--path", help="request path (default: the protocol's, e.g. /v2/models/MODEL/infer)")
    body.add_argument("--shape", default="1,4", help="generated tensor shape (default 1,4)")
    body.add_argument("--datatype", default="FP32", help="generated tensor datatype (FP32, INT64, BOOL, ...)")
    body.add_argument("--distinct", type=float, default=1.0, help="fraction of requests with new inputs (the rest repeat)")
    body.add_argument("--pool", type=int, default=16, help="how many repeated inputs there are (default 16)")
    body.add_argument("--requests-file", help="JSONL file of request bodies, sent in order, cycling")
    body.add_argument("--header", action="append", default=[], metavar="K:V", help="extra header (repeatable)")
    body.add_argument("--users", type=int, default=0, help="send x-user-id drawn from this many users (sticky routing)")
    tls = run.add_argument_group("TLS")
    tls.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    tls.add_argument("--cacert", help="CA bundle to verify the server with")
    out = run.add_argument_group("output")
    out.add_argument("--json", metavar="OUT", help="write the run result (RunResult wire form) to this file")
    out.add_argument("--quiet", action="store_true", help="no live progress display")
    run.set_defaults(func=main_run)
    return lt


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


def options_from_args(args: argparse.Namespace) -> LoadOptions:
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
    workload = WorkloadSpec(
        protocol=args.protocol, model=args.model, path=args.path, shape=shape, datatype=args.datatype.upper(),
        distinct=args.distinct, pool=args.pool, requests_file=args.requests_file, headers=tuple(headers), users=args.users,
    )
    options = LoadOptions(
        url=args.url, profile=profile_from_args(args), poisson=args.poisson, seed=args.seed,
        connections=args.connections, workers=args.workers, max_requests=args.max_requests, workload=workload,
        timeout_s=timeout, grace_s=grace, insecure=args.insecure, cacert=args.cacert,
    )
    options.check()
    return options


def _ms(result: RunResult, pct: float | None = None) -> str:
    h = result.latency
    if h.get_total_count() == 0:
        return "-"
    us = h.get_max_value() if pct is None else h.get_value_at_percentile(pct)
    return f"{us / 1000:.3f}"


def summary_lines(result: RunResult) -> list[str]:
    done = result.ok + sum(result.errors.values())
    lines = [
        f"target {result.target}: {result.intended:,} intended, {result.sent:,} sent, {result.ok:,} ok, "
        f"{sum(result.errors.values()):,} errors in {result.duration_s:g}s; achieved {result.achieved_rate:,.1f}/s "
        f"(intended {result.intended / result.duration_s if result.duration_s else 0:,.1f}/s)",
        f"latency ms (from intended send time): p50 {_ms(result, 50)}  p90 {_ms(result, 90)}  p99 {_ms(result, 99)}  "
        f"p99.9 {_ms(result, 99.9)}  max {_ms(result)}",
    ]
    if result.service_time.get_total_count():
        s = result.service_time
        lines.append(f"service time ms (from actual send): p50 {s.get_value_at_percentile(50) / 1000:.3f}  "
                     f"p99 {s.get_value_at_percentile(99) / 1000:.3f}  max {s.get_max_value() / 1000:.3f}")
    if result.errors:
        lines.append("errors: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.errors.items()))
                     + f" ({result.error_ratio:.2%} of {done:,})")
    if result.variant_counts:
        lines.append("variants (x-isthmus-backend, ok responses): " + ", ".join(
            f"{name} {n:,} p50 {result.variants[name].get_value_at_percentile(50) / 1000:.3f}ms"
            for name, n in result.variant_counts.most_common()))
    return lines


def main_run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        options = options_from_args(args)
    except (LoadOptionsError, WorkloadError) as exc:
        print(f"isthmus loadtest: {exc}", file=sys.stderr)
        return 2
    try:
        with ProgressDisplay(options.profile, quiet=args.quiet, file=out) as progress:
            result = run_load_blocking(options, on_tick=progress.update if progress.enabled else None)
    except (WorkerError, WorkloadError, OSError) as exc:
        print(f"isthmus loadtest: {exc}", file=sys.stderr)
        return 1
    for line in summary_lines(result):
        print(line, file=out)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result.to_wire(), fh)
    return 0
