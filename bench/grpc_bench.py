"""The bench's gRPC line: Open Inference Protocol V2 over gRPC, direct to a fast grpc.aio server
(``fast_grpc_backend.py``) and through Isthmus's gRPC ingress (a ``kserve-v2-grpc`` backend to the
same server) and through Envoy as a gRPC proxy (HTTP/2 both sides, ``configs/envoy-grpc.yaml``;
skipped without Envoy), driven by ``isthmus loadtest run grpc://...`` (the V2 gRPC workload, [1,16] FP32).

Per target: throughput as the highest rate held with p99 within an SLO (``isthmus loadtest
capacity``: step up, then bisect), and at a low fixed rate on one channel p50 / p99 and the CPU
the process under test spent per request.
Ratios are to ``grpc-direct`` and ``grpc-envoy``, as the REST lines are to ``direct`` and ``envoy``.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path
from string import Template
from typing import Any, Callable

from bench.procs import Supervisor, free_port, pinned, tree_cpu_seconds, wait_for_port

HERE = Path(__file__).resolve().parent
TARGETS = ("grpc-direct", "grpc-isthmus", "grpc-envoy")
ISTHMUS_CONFIG = """\
listener:
  address: 127.0.0.1:{rest_port}
  grpc_address: 127.0.0.1:{port}
backends:
  - name: fast
    protocol: kserve-v2-grpc
    endpoints: [grpc://127.0.0.1:{backend_port}]
    model: bench
    timeout: 10s
routes:
  - model: bench
    variants:
      - {{backend: fast, weight: 100}}
"""


def _loadtest(isthmus: str, target: str, cpus: str | None, seconds: float, *extra: str,
              mode: str = "run") -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [isthmus, "loadtest", mode, f"grpc://{target}", "--model", "bench", "--shape", "1,16",
               "--timeout", "5s", "--grace", "1s", "--json", out.name, "--quiet", *extra]
        proc = subprocess.run(pinned(cmd, cpus), capture_output=True, text=True, timeout=seconds + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"isthmus loadtest {mode} failed ({proc.returncode}): {proc.stderr[-800:]}")
        return json.loads(Path(out.name).read_text())


def _measure(isthmus: str, target: str, pid: int, args: Any, load_cpus: str | None) -> dict[str, Any]:
    warm = args.warmup_seconds
    # Warm up as the first trial will run (its rate and channels): a cold start's stalls would
    # otherwise fail that trial and cap the search below it.
    _loadtest(isthmus, target, load_cpus, warm, "--rate", f"{args.grpc_start_rate:g}", "--duration", f"{warm:g}s",
              "--connections", str(args.grpc_connections))
    # Throughput: the highest rate held with p99 <= the SLO and no errors to speak of (an open-loop
    # run far above capacity only measures the generator drowning in its own backlog).
    trials = args.grpc_max_trials
    cap = _loadtest(isthmus, target, load_cpus, trials * (args.grpc_trial_seconds + 7), "--slo",
                    f"p99={args.grpc_slo_p99_ms:g}ms", "--max-errors", "0.1%", "--start-rate",
                    f"{args.grpc_start_rate:g}", "--max-rate", "50000", "--trial-duration",
                    f"{args.grpc_trial_seconds:g}s", "--precision", "0.1", "--max-trials", str(trials),
                    "--connections", str(args.grpc_connections), mode="capacity")["capacity"]
    cpu0 = tree_cpu_seconds(pid)
    low = _loadtest(isthmus, target, load_cpus, args.rate_seconds, "--rate", f"{args.rate:g}", "--duration",
                    f"{args.rate_seconds:g}s", "--connections", "1")
    low_cpu = tree_cpu_seconds(pid) - cpu0
    ok = low["totals"]["ok"]
    return {
        "capacity": {"rps": cap["capacity_rps"], "binding": cap["binding"], "slo_p99_ms": args.grpc_slo_p99_ms,
                     "connections": args.grpc_connections,
                     "trials": [{k: t[k] for k in ("rate", "passed", "latency_ms", "error_ratio", "limited_by")}
                                for t in cap["trials"]]},
        "fixed_rate": {"rate": args.rate, "ok": ok, "errors": low["totals"]["errors"],
                       "p50_ms": low["latency_ms"]["p50"], "p90_ms": low["latency_ms"]["p90"],
                       "p99_ms": low["latency_ms"]["p99"], "cpu_ms_per_request": 1000 * low_cpu / ok if ok else None},
    }


def _start_proxy(sup: Supervisor, name: str, isthmus: str, envoy: str | None, backend_port: int,
                 cpus: str | None) -> tuple[Any, int]:
    port, other = free_port(), free_port()
    if name == "grpc-isthmus":
        conf = sup.workdir / "isthmus-grpc.yaml"
        conf.write_text(ISTHMUS_CONFIG.format(port=port, rest_port=other, backend_port=backend_port))
        proc = sup.start(name, [isthmus, "--log-level", "warning", "serve", "--config", str(conf)], cpus)
    else:
        assert envoy
        conf = sup.workdir / "envoy-grpc.yaml"
        template = Template((HERE / "configs" / "envoy-grpc.yaml").read_text())
        conf.write_text(template.substitute(port=port, admin_port=other, backend_port=backend_port))
        cmd = [envoy, "-c", str(conf), "--concurrency", "1", "--disable-hot-restart", "--log-level", "warn"]
        proc = sup.start(name, cmd, cpus)
    wait_for_port(proc, port, timeout=60)
    return proc, port


def run(sup: Supervisor, python: str, isthmus: str, envoy: str | None, proxy_cpus: str | None,
        load_cpus: str | None, args: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """Start the fast gRPC backend, measure every target ``args.grpc_rounds`` times, keep each one's best round."""
    backend_port = free_port()
    backend = sup.start("grpc-backend", [python, str(HERE / "fast_grpc_backend.py"), str(backend_port)], load_cpus)
    wait_for_port(backend, backend_port)
    targets = [t for t in TARGETS if t != "grpc-envoy" or envoy]
    rounds: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    for rnd in range(1, args.grpc_rounds + 1):
        for name in targets:
            log(f"[gRPC round {rnd}/{args.grpc_rounds}: {name}]")
            if name == "grpc-direct":
                # The backend is the process under test; it stays on the load generator's CPU(s).
                rounds[name].append(_measure(isthmus, f"127.0.0.1:{backend_port}", backend.pid, args, load_cpus))
                continue
            proc, port = _start_proxy(sup, name, isthmus, envoy, backend_port, proxy_cpus)
            try:
                rounds[name].append(_measure(isthmus, f"127.0.0.1:{port}", proc.pid, args, load_cpus))
            finally:
                sup.stop(proc)
    def held(r: dict[str, Any]) -> float:
        return r["capacity"]["rps"] or 0.0

    best = {n: max(rs, key=held) | {"rounds": rs} for n, rs in rounds.items() if rs}
    direct, envoy_res = best.get("grpc-direct"), best.get("grpc-envoy")
    for name, res in best.items():
        if direct and name != "grpc-direct":
            res["capacity_ratio_to_direct"] = held(res) / held(direct) if held(direct) else None
            res["added_p50_ms"] = res["fixed_rate"]["p50_ms"] - direct["fixed_rate"]["p50_ms"]
            res["added_p99_ms"] = res["fixed_rate"]["p99_ms"] - direct["fixed_rate"]["p99_ms"]
        if envoy_res and name == "grpc-isthmus":
            res["capacity_ratio_to_envoy"] = held(res) / held(envoy_res) if held(envoy_res) else None
    return {"backend": "bench/fast_grpc_backend.py (grpc.aio, fixed pre-serialised ModelInferResponse)",
            "generator": "isthmus loadtest (v2-grpc)", "targets": best,
            "skipped": {} if envoy else {"grpc-envoy": "envoy not installed"}}


def markdown(res: dict[str, Any]) -> str:
    def f(v: Any, fmt: str = ".2f") -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    lines = ["", "## gRPC (Open Inference Protocol V2)", "",
             f"Backend: {res['backend']}; load: {res['generator']}.", "",
             "| target | held rps (p99 SLO) | x direct | x envoy | bound by | p50 ms @ rate | p99 ms @ rate "
             "| added p50 ms | CPU ms / req @ rate |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in res["targets"].items():
        c, lo = r["capacity"], r["fixed_rate"]
        lines.append(f"| {name} | {f(c['rps'], '.0f')} | {f(r.get('capacity_ratio_to_direct'))} "
                     f"| {f(r.get('capacity_ratio_to_envoy'))} | {c['binding']} "
                     f"| {f(lo['p50_ms'], '.3f')} | {f(lo['p99_ms'], '.3f')} "
                     f"| {f(r.get('added_p50_ms'), '.3f')} | {f(lo['cpu_ms_per_request'], '.3f')} |")
    lines += [f"\n{name} skipped: {why}" for name, why in res.get("skipped", {}).items()]
    return "\n".join(lines) + "\n"
