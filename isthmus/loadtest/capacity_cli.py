"""``isthmus loadtest capacity URL --slo p99=50ms``: the highest rate that meets the SLO."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import Any, Callable, TextIO

from isthmus.config.units import parse_duration
from isthmus.loadtest import schedule
from isthmus.loadtest.capacity import (
    CapacityResult,
    find_capacity,
    parse_error_budget,
    parse_slo,
)
from isthmus.loadtest.errors import LoadTestError
from isthmus.loadtest.results import RunResult
from isthmus.loadtest.workers import event_loop_factory, run_load


def add_capacity_parser(sub: Any, add_common: Callable[[argparse.ArgumentParser, Any], None]) -> None:
    cap = sub.add_parser(
        "capacity", help="find the highest rate that meets an SLO (step up, then bisect)",
        description="Each trial is a constant open-loop load; a trial fails on a latency objective, "
                    "the error budget, or when the achieved rate falls below the target.",
    )
    cap.add_argument("url", help="the target, e.g. http://127.0.0.1:8080")
    search = cap.add_argument_group("search")
    search.add_argument("--slo", action="append", required=True, metavar="pNN=LATENCY",
                        help="latency objective, e.g. p99=50ms (repeatable, or comma-separated)")
    search.add_argument("--max-errors", default="0.1%", help="error budget per trial (default 0.1%%)")
    search.add_argument("--start-rate", type=float, default=100.0, help="first trial's rate (default 100/s)")
    search.add_argument("--max-rate", type=float, default=100_000.0, help="never try above this rate")
    search.add_argument("--trial-duration", default="10s", help="length of each trial (default 10s)")
    search.add_argument("--precision", type=float, default=0.05, help="stop when within this fraction (default 5%%)")
    search.add_argument("--max-trials", type=int, default=20)
    add_common(cap, search)
    cap.set_defaults(func=main_capacity)


def main_capacity(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from isthmus.loadtest.cli import options_from_args, split_weights, write_outputs

    out = out or sys.stdout
    try:
        slo = parse_slo(args.slo)
        budget = parse_error_budget(args.max_errors)
        duration = parse_duration(args.trial_duration)
        base = options_from_args(args, schedule.constant(args.start_rate, duration))
        weights = split_weights(args)
    except (ValueError, LoadTestError) as exc:
        print(f"isthmus loadtest capacity: {exc}", file=sys.stderr)
        return 2
    runs: dict[float, RunResult] = {}

    async def trial(rate: float) -> RunResult:
        options = dataclasses.replace(base, profile=schedule.constant(rate, duration))
        if not args.quiet:
            print(f"trial: {rate:,.1f}/s for {duration:g}s ...", file=out, flush=True)
        runs[rate] = result = await run_load(options)
        return result

    async def search() -> CapacityResult:
        return await find_capacity(
            trial, start_rate=args.start_rate, max_rate=args.max_rate, slo=slo, error_budget=budget,
            precision=args.precision, max_trials=args.max_trials, min_rate=min(1.0, args.start_rate),
        )


    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            found = runner.run(search())
    except (LoadTestError, OSError) as exc:
        print(f"isthmus loadtest capacity: {exc}", file=sys.stderr)
        return 1
    # The report's run is the highest passing trial's (or the first trial's when none passed).
    shown = runs[found.capacity] if found.capacity is not None else runs[found.trials[0].rate]
    write_outputs(args, shown, out, weights, capacity=found)
    return 0
