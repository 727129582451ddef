"""The three load generators, each run once as its own pinned process, parsed into one ``Run``.

- ``isthmus loadtest run``: open loop; latency from each request's intended send time.
- ``wrk`` (4.1): closed loop; each connection sends its next request when the previous one has
  answered (plus an optional think time), latency from the actual send. No target rate.
- ``k6`` (constant-arrival-rate): open loop up to ``max_vus`` in-flight requests; when every VU is
  busy the iteration is dropped (counted, never sent); latency from the actual send.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.procs import cpu_busy_seconds

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
# Busy share (0..1) of each CPU during the last tool run, from /proc/stat: the harness subtracts
# what it knows (the tool on the generator CPU) to show how much other work disturbed a run.
OTHERS_CPUS: tuple[str, ...] = ()
LAST_BUSY: dict[str, float] = {}


@dataclass
class Run:
    tool: str
    config: str  # connections / VUs / think time, in words
    rate: float | None  # the target rate (None: wrk saturating, closed loop)
    duration_s: float
    ok: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    wall_s: float  # the tool's process, start to exit (includes its start-up and grace)
    cpu_s: float  # user + system CPU of the tool's process
    extra: dict[str, float | int | str | None] = field(default_factory=dict)

    @property
    def ok_rate(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        return 1e6 * self.cpu_s / self.ok if self.ok else None

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["ok_rate"] = round(self.ok_rate, 1)
        d["cpu_us_per_request"] = self.cpu_us_per_request
        return d


def _run(cmd: list[str], cpus: str | None, env: dict[str, str] | None, timeout: float) -> tuple[str, str, int, float, float]:
    """Run ``cmd`` (pinned with taskset); returns stdout, stderr, exit status, wall s, CPU s."""
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]  # taskset execs: same pid, so wait4 sees the tool
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0 = {c: cpu_busy_seconds(c) for c in OTHERS_CPUS}
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        busy = {c: cpu_busy_seconds(c) - busy0[c] for c in OTHERS_CPUS}
        LAST_BUSY.clear()
        LAST_BUSY.update({c: b / wall for c, b in busy.items()})
        out.seek(0)
        err.seek(0)
        return out.read().decode(errors="replace"), err.read().decode(errors="replace"), p.returncode, wall, ru.ru_utime + ru.ru_stime


_LOADTEST: dict[Path, list[str]] = {}


def _loadtest_cmd(venv: Path) -> list[str]:
    """``isthmus loadtest``, or the same CLI code through its module when the top-level CLI does not
    start (bench/loadtest_cli.py; e.g. while another subcommand is broken)."""
    if venv not in _LOADTEST:
        from bench.loadtest_generator import loadtest_command

        cmd = loadtest_command(venv)
        if cmd is None:
            raise RuntimeError("isthmus loadtest is not available")
        _LOADTEST[venv] = cmd
    return _LOADTEST[venv]


def isthmus(url: str, rate: float, duration_s: float, connections: int, requests_file: Path, venv: Path,
            cpus: str | None) -> Run:
    with tempfile.NamedTemporaryFile(suffix=".json") as rep:
        cmd = [*_loadtest_cmd(venv), "run", url, "--rate", f"{rate:g}",
               "--duration", f"{duration_s:g}s", "--connections", str(connections),
               "--requests-file", str(requests_file), "--timeout", "5s", "--grace", "2s",
               "--json", rep.name, "--quiet"]
        out, err, rc, wall, cpu = _run(cmd, cpus, None, duration_s + 60)
        if rc != 0:
            raise RuntimeError(f"isthmus loadtest exited {rc}: {err[-600:]}")
        d = json.loads(Path(rep.name).read_text())
    lat, svc = d["latency_ms"], d["service_time_ms"]
    return Run("isthmus-loadtest", f"{connections} conn", rate, d["run"]["duration_s"], d["totals"]["ok"],
               d["totals"]["errors"], lat["p50"], lat["p99"], lat["p99.9"], lat["max"], wall, cpu,
               {"intended": d["totals"]["intended"], "sent": d["totals"]["sent"],
                "service_p50_ms": svc["p50"], "service_p99_ms": svc["p99"], "service_max_ms": svc["max"],
                "errors_by_kind": json.dumps(d["errors"])})


def wrk(url: str, duration_s: float, connections: int, body_file: Path, cpus: str | None,
        delay_ms: int = 0, rate: float | None = None) -> Run:
    """``rate`` is only a label: wrk approximates it with a think time of ``delay_ms`` per connection."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "5s",
           "-s", str(BENCH / "wrk_script.lua"), url]
    env = {"BENCH_BODY_FILE": str(body_file), "BENCH_DELAY_MS": str(delay_ms)}
    out, err, rc, wall, cpu = _run(cmd, cpus, env, duration_s + 30)
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if rc != 0 or line is None:
        raise RuntimeError(f"wrk exited {rc}: {out[-400:]} {err[-400:]}")
    d = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(d["errors"].values())
    cfg = f"{connections} conn" + (f", think {delay_ms} ms" if delay_ms else "")
    return Run("wrk", cfg, rate, d["duration_us"] / 1e6, d["requests"] - d["errors"]["status"], errors,
               d["p50_us"] / 1000, d["p99_us"] / 1000, d["p999_us"] / 1000, d["max_us"] / 1000, wall, cpu,
               {"errors_by_kind": json.dumps({k: v for k, v in d["errors"].items() if v})})


def k6(url: str, rate: float, duration_s: float, vus: int, max_vus: int, body_file: Path, k6_bin: str,
       cpus: str | None) -> Run:
    with tempfile.NamedTemporaryFile(suffix=".json") as summ:
        env = {"URL": url, "RATE": f"{rate:g}", "DURATION": f"{duration_s:g}s", "VUS": str(vus),
               "MAX_VUS": str(max_vus), "BODY_FILE": str(body_file), "SUMMARY": summ.name,
               "K6_NO_USAGE_REPORT": "true"}
        cmd = [k6_bin, "run", "--quiet", "--no-color", str(HERE / "k6_script.js")]
        out, err, rc, wall, cpu = _run(cmd, cpus, env, duration_s + 60)
        if rc != 0:
            raise RuntimeError(f"k6 exited {rc}: {err[-600:]}")
        d = json.loads(Path(summ.name).read_text())
    m = d["metrics"]
    reqs = int(m["http_reqs"]["values"]["count"])
    failed = round(m.get("http_req_failed", {}).get("values", {}).get("rate", 0.0) * reqs)
    dur = m["http_req_duration"]["values"]
    dropped = int(m.get("dropped_iterations", {}).get("values", {}).get("count", 0))
    vus_max = int(m.get("vus_max", {}).get("values", {}).get("max", 0))
    return Run("k6", f"{vus}..{max_vus} VUs", rate, duration_s, reqs - failed, failed,
               dur.get("med"), dur.get("p(99)"), dur.get("p(99.9)"), dur.get("max"), wall, cpu,
               {"dropped_iterations": dropped, "vus_max": vus_max,
                "test_run_s": d.get("state", {}).get("testRunDurationMs", 0) / 1000})
