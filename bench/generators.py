"""Load generators behind one small interface, so the bench can switch tools in one place.

Two measurements per target: ``saturate`` (closed loop, N connections, as fast as the target
answers) and ``fixed_rate`` (one connection at a low fixed rate, for added latency).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from bench.procs import pinned

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Measurement:
    generator: str
    mode: str  # "saturate" or "fixed_rate"
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    target_rate: float | None = None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class LoadGenerator(Protocol):
    name: str

    def saturate(self, url: str, connections: int, duration_s: float) -> Measurement: ...

    def fixed_rate(self, url: str, rate: float, duration_s: float) -> Measurement: ...


@dataclass(frozen=True)
class GeneratorPlan:
    """Which generator measures what; the one place to change when switching tools."""

    saturate: LoadGenerator
    fixed_rate: LoadGenerator
    cross_check: tuple[tuple[LoadGenerator, str], ...] = ()  # (generator, mode), shorter runs, not in ratios

    def describe(self) -> dict[str, object]:
        return {"saturate": self.saturate.name, "fixed_rate": self.fixed_rate.name,
                "cross_check": [f"{g.name}:{mode}" for g, mode in self.cross_check]}


class WrkGenerator:
    """wrk (closed loop, one thread). The fixed rate is approximated with one connection and a
    think time of 1/rate between a response and the next request, so the achieved rate is a
    little below ``rate``; it is reported as measured."""

    name = "wrk"

    def __init__(self, body_file: Path, cpus: str | None, wrk: str = "wrk"):
        self._body_file = body_file
        self._cpus = cpus
        self._wrk = wrk

    def saturate(self, url: str, connections: int, duration_s: float) -> Measurement:
        return self._run(url, connections, duration_s, "saturate", delay_ms=0)

    def fixed_rate(self, url: str, rate: float, duration_s: float) -> Measurement:
        m = self._run(url, 1, duration_s, "fixed_rate", delay_ms=max(1, round(1000 / rate)))
        return Measurement(**{**asdict(m), "target_rate": rate})

    def _run(self, url: str, connections: int, duration_s: float, mode: str, delay_ms: int) -> Measurement:
        cmd = pinned(
            [self._wrk, "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "5s",
             "-s", str(HERE / "wrk_script.lua"), url],
            self._cpus,
        )
        env = {**os.environ, "BENCH_BODY_FILE": str(self._body_file), "BENCH_DELAY_MS": str(delay_ms)}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration_s + 30)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-800:]} {out.stderr[-800:]}")
        d = json.loads(line.removeprefix("BENCH_JSON "))
        secs = d["duration_us"] / 1e6
        return Measurement(
            generator=self.name, mode=mode, connections=connections, duration_s=round(secs, 3),
            requests=d["requests"], rps=d["requests"] / secs if secs else 0.0,
            p50_ms=d["p50_us"] / 1000, p90_ms=d["p90_us"] / 1000, p99_ms=d["p99_us"] / 1000,
            errors={k: v for k, v in d["errors"].items() if v},
        )
