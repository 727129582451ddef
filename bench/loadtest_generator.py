"""The project's own open-loop load tester (``isthmus loadtest run``) behind the bench's
LoadGenerator interface. Latency is taken from each request's intended send time (HDR)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from bench.generators import Measurement
from bench.procs import pinned

HERE = Path(__file__).resolve().parent


def loadtest_command(venv: Path) -> list[str] | None:
    """``isthmus loadtest`` when the CLI has it, else the same CLI through its module; None if absent."""
    isthmus = str(venv / "bin" / "isthmus")
    try:
        if subprocess.run([isthmus, "loadtest", "run", "--help"], capture_output=True, timeout=30).returncode == 0:
            return [isthmus, "loadtest"]
        probe = [str(venv / "bin" / "python"), "-c", "import isthmus.loadtest.cli, isthmus.loadtest.workers"]
        if subprocess.run(probe, capture_output=True, timeout=30).returncode == 0:
            return [str(venv / "bin" / "python"), str(HERE / "loadtest_cli.py")]
    except (OSError, subprocess.SubprocessError):
        pass
    return None


class IsthmusLoadtestGenerator:
    name = "isthmus-loadtest"

    @staticmethod
    def unavailable(venv: Path) -> str | None:
        return None if loadtest_command(venv) else "isthmus loadtest (isthmus/loadtest/cli.py) not available"

    def __init__(self, venv: Path, body_file: Path, cpus: str | None):
        cmd = loadtest_command(venv)
        assert cmd
        self._cmd = cmd
        self._cpus = cpus
        self._requests = body_file.with_suffix(".jsonl")
        self._requests.write_text(body_file.read_text().strip() + "\n")  # one JSONL line: our V2 body

    def saturate(self, url: str, connections: int, duration_s: float) -> Measurement:
        # Open loop: offer far more than any target answers; the ok rate is the throughput. One
        # Python process cannot outrun the proxies here (measured: it reaches about 18k ok/s through
        # Envoy, which wrk drives to about 30k), so the bench saturates with wrk.
        return self._run(url, 100_000, connections, duration_s, "saturate")

    def fixed_rate(self, url: str, rate: float, duration_s: float) -> Measurement:
        return self._run(url, rate, 1, duration_s, "fixed_rate")

    def _run(self, url: str, rate: float, connections: int, duration_s: float, mode: str) -> Measurement:
        from isthmus.loadtest.results import RunResult

        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            cmd = pinned([*self._cmd, "run", url, "--rate", f"{rate:g}", "--duration", f"{duration_s:g}s",
                          "--connections", str(connections), "--requests-file", str(self._requests),
                          "--timeout", "5s", "--grace", "1s", "--json", out.name, "--quiet"], self._cpus)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"isthmus loadtest failed ({proc.returncode}): {proc.stderr[-800:]}")
            doc = json.loads(Path(out.name).read_text())
        if "schema" in doc:  # `--json` writes the report (isthmus.loadtest/v1)
            lat, secs = doc["latency_ms"], doc["run"]["duration_s"]
            nan = float("nan")
            return Measurement(
                generator=self.name, mode=mode, connections=connections, duration_s=secs,
                requests=doc["totals"]["completed"], rps=doc["totals"]["ok"] / secs if secs else 0.0,
                p50_ms=lat["p50"] if lat["p50"] is not None else nan,
                p90_ms=lat["p90"] if lat["p90"] is not None else nan,
                p99_ms=lat["p99"] if lat["p99"] is not None else nan,
                errors=dict(doc["errors"]), target_rate=rate if mode == "fixed_rate" else None,
            )
        result = RunResult.from_wire(doc)  # older CLI: RunResult.to_wire()
        h = result.latency

        def ms(p: float) -> float:
            return h.get_value_at_percentile(p) / 1000 if h.get_total_count() else float("nan")

        return Measurement(
            generator=self.name, mode=mode, connections=connections, duration_s=result.duration_s,
            requests=result.ok + sum(result.errors.values()),
            rps=result.ok / result.duration_s if result.duration_s else 0.0,
            p50_ms=ms(50), p90_ms=ms(90), p99_ms=ms(99), errors=dict(result.errors),
            target_rate=rate if mode == "fixed_rate" else None,
        )
