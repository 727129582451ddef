"""Run the bench: every target, the same workload, one report. ``python -m bench --help``."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import burst, grpc_bench, profiling, report
from bench import xds as xds_bench
from bench.generators import GeneratorPlan, WrkGenerator
from bench.loadtest_generator import IsthmusLoadtestGenerator
from bench.procs import Supervisor, cpu_busy_seconds, load_average, tree_cpu_seconds
from bench.targets import (
    INFER_PATH,
    PROXIES,
    REQUEST_BODY,
    Running,
    Tools,
    redis_stats,
    start_backend,
    start_redis,
    unavailable_reason,
    versions,
)

REPO = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description=__doc__)
    p.add_argument("--targets", default=None,
                   help="comma-separated, from: direct," + ",".join(PROXIES)
                   + " (default: all but isthmus-workers, which --gateway-workers adds). The cache targets "
                   "(isthmus-cache-l1, isthmus-cache-redis) answer every request after the first from the cache")
    p.add_argument("--gateway-workers", type=int, default=0, metavar="N",
                   help="also run the isthmus-workers target: `isthmus serve --workers N` (N >= 2), unpinned; "
                        "its per-core figure is the CPU %% column over sat. rps (CPU ms per 1k requests in the log)")
    p.add_argument("--connections", type=int, default=32, help="saturation connections")
    p.add_argument("--saturation-seconds", type=float, default=8)
    p.add_argument("--warmup-seconds", type=float, default=2)
    p.add_argument("--rate", type=float, default=200, help="low fixed rate (rps), one connection")
    p.add_argument("--rate-seconds", type=float, default=8)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds over all targets; best round kept")
    p.add_argument("--profile-seconds", type=float, default=8, help="py-spy on Isthmus; 0 turns it off")
    p.add_argument("--generator", choices=["auto", "wrk", "isthmus"], default="auto",
                   help="primary load generator (auto: isthmus loadtest when it works, else wrk)")
    p.add_argument("--no-nginx", action="store_true",
                   help="act as if nginx were not installed (python fallback backend, nginx target skipped)")
    p.add_argument("--no-burst", action="store_true", help="skip the coalescing burst")
    p.add_argument("--burst-size", type=int, default=200, help="identical requests per burst, one connection each")
    p.add_argument("--burst-rounds", type=int, default=5, help="bursts per variant (each with a new, cold key)")
    p.add_argument("--burst-delay-ms", type=float, default=100, help="the slow backend's time per answer")
    p.add_argument("--no-xds", action="store_true", help="skip the xDS control-plane benchmark")
    p.add_argument("--xds-clients", type=int, nargs="+", default=[1, 100, 1000], metavar="N")
    p.add_argument("--xds-rounds", type=int, default=3, help="file writes per client count")
    p.add_argument("--no-grpc", action="store_true", help="skip the gRPC line (grpc-direct, grpc-isthmus, grpc-envoy)")
    p.add_argument("--grpc-only", action="store_true",
                   help="only the gRPC line: no REST targets, burst or xDS (a short gRPC-only report)")
    p.add_argument("--grpc-rounds", type=int, default=2, help="rounds of the gRPC line; best round kept")
    p.add_argument("--grpc-connections", type=int, default=4,
                   help="gRPC capacity-search channels (isthmus loadtest: 100 streams each)")
    p.add_argument("--grpc-slo-p99-ms", type=float, default=50, help="gRPC throughput: held with p99 at most this")
    p.add_argument("--grpc-start-rate", type=float, default=1000, help="gRPC capacity search: first trial's rate")
    p.add_argument("--grpc-trial-seconds", type=float, default=3, help="gRPC capacity search: seconds per trial")
    p.add_argument("--grpc-max-trials", type=int, default=6, help="gRPC capacity search: trials per target")
    p.add_argument("--venv", default=str(REPO / ".venv"))
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    return p


def pinning() -> tuple[str | None, str | None, str]:
    """(proxy cpus, load-generator + backend cpus, description)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        return None, None, "none (fewer than 2 CPUs or no taskset): all processes share the CPUs"
    proxy, rest = str(cpus[-1]), ",".join(str(c) for c in cpus[:-1])
    return proxy, rest, (f"process under test on CPU {proxy}; load generator, backend and profiler on CPU {rest} "
                         "(taskset); for `direct` the backend is the process under test but stays on "
                         f"CPU {rest} with the load generator")


def check(url: str, expect_cache: str | None = None) -> str | None:
    """One request with the bench body; returns its ``x-isthmus-cache`` header, which must be
    ``expect_cache`` when given."""
    req = urllib.request.Request(url + INFER_PATH, data=REQUEST_BODY.encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
        cache = resp.headers.get("x-isthmus-cache")
    if resp.status != 200 or "outputs" not in body:
        raise RuntimeError(f"{url}: unexpected answer {resp.status} {body}")
    if expect_cache is not None and cache != expect_cache:
        raise RuntimeError(f"{url}: x-isthmus-cache is {cache!r}, expected {expect_cache!r}")
    return cache


CACHE_TARGETS = ("isthmus-cache-l1", "isthmus-cache-redis")


def measure(target: Running, cpu_pid: int, plan: GeneratorPlan, args: argparse.Namespace, log: Any,
            cross_check: bool, core: str | None,
            counters: Any = None) -> report.TargetResult:
    """``core``: the CPU(s) the process under test is pinned to; the busy time there that is not
    its own is other work on the machine (noise), reported as ``others_pct``. ``counters``: a
    callable returning Redis ``INFO stats`` counters, read around each measured run (the Redis
    target: how many of its requests were Redis hits)."""
    url = target.url + INFER_PATH
    res = report.TargetResult(target.name)
    log(f"  warm-up {args.warmup_seconds:g}s")
    plan.saturate.saturate(url, args.connections, args.warmup_seconds)
    c0 = counters() if counters else None
    own0, busy0, t0 = tree_cpu_seconds(cpu_pid), cpu_busy_seconds(core), time.monotonic()
    res.saturate = plan.saturate.saturate(url, args.connections, args.saturation_seconds)
    own, busy, dt_s = tree_cpu_seconds(cpu_pid) - own0, cpu_busy_seconds(core) - busy0, time.monotonic() - t0
    if counters:
        res.extra["redis_saturation"] = _redis_share(c0, counters(), res.saturate.requests, log)
    res.cpu_pct = round(100 * own / dt_s, 1)
    res.others_sat_pct = round(max(0.0, 100 * (busy - own) / dt_s), 1) if core else None
    per_k = 1e6 * own / (res.saturate.rps * dt_s) if res.saturate.rps else float("nan")
    log(f"  saturation ({plan.saturate.name}): {res.saturate.rps:,.0f} rps, CPU {res.cpu_pct:.0f}% "
        f"({per_k:.1f} CPU ms per 1k requests), others on its core {res.others_sat_pct}%, "
        f"errors {res.saturate.errors or 0}")
    plan.fixed_rate.fixed_rate(url, args.rate, 1)  # short warm-up at the low rate
    c0 = counters() if counters else None
    own0, busy0, t0 = tree_cpu_seconds(cpu_pid), cpu_busy_seconds(core), time.monotonic()
    res.fixed_rate = fr = plan.fixed_rate.fixed_rate(url, args.rate, args.rate_seconds)
    own, busy, dt_s = tree_cpu_seconds(cpu_pid) - own0, cpu_busy_seconds(core) - busy0, time.monotonic() - t0
    if counters:
        res.extra["redis_low_rate"] = _redis_share(c0, counters(), fr.requests, log)
    res.others_low_pct = round(max(0.0, 100 * (busy - own) / dt_s), 1) if core else None
    log(f"  {args.rate:g} rps x1 ({plan.fixed_rate.name}): {fr.rps:.0f} rps, p50 {fr.p50_ms:.3f} ms, "
        f"p99 {fr.p99_ms:.3f} ms, others on its core {res.others_low_pct}%")
    for gen, mode in plan.cross_check if cross_check else ():
        short = max(3.0, args.rate_seconds / 2)
        m = (gen.saturate(url, args.connections, short) if mode == "saturate"
             else gen.fixed_rate(url, args.rate, short))
        res.cross_check[f"{gen.name}:{mode}"] = m
        log(f"  cross-check {gen.name}:{mode}: {m.rps:,.0f} rps, p50 {m.p50_ms:.3f} ms, p99 {m.p99_ms:.3f} ms")
    return res


def _redis_share(before: dict[str, int], after: dict[str, int], requests: int, log: Any) -> dict[str, Any]:
    """Redis GET hits and misses during one measured run, against the requests the generator counted."""
    hits = after.get("keyspace_hits", 0) - before.get("keyspace_hits", 0)
    misses = after.get("keyspace_misses", 0) - before.get("keyspace_misses", 0)
    share = round(hits / requests, 4) if requests else None
    log(f"  redis during the run: {hits:,} hits, {misses:,} misses for {requests:,} requests (hit share {share})")
    return {"keyspace_hits": hits, "keyspace_misses": misses, "requests": requests, "hit_share": share}


def profile_isthmus(target: Running, gen: WrkGenerator | IsthmusLoadtestGenerator, args: argparse.Namespace, load_cpus: str | None,
                    out_dir: Path, stamp: str, log: Any) -> dict[str, Any]:
    spy = profiling.py_spy_path(Path(args.venv))
    if not spy or target.proc is None:
        return {"error": "py-spy not installed"}
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, svg = out_dir / f"profile-{stamp}.txt", out_dir / f"profile-{stamp}.svg"
    log(f"  profiling with py-spy for {args.profile_seconds:g}s (separate run, not measured)")
    procs = [profiling.start(spy, target.proc.pid, args.profile_seconds, raw, "raw", load_cpus),
             profiling.start(spy, target.proc.pid, args.profile_seconds, svg, "flamegraph", load_cpus)]
    time.sleep(0.5)
    gen.saturate(target.url + INFER_PATH, args.connections, args.profile_seconds + 1)
    errs = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=args.profile_seconds + 30)
        except Exception:  # noqa: BLE001
            p.kill()
            err = b"timeout"
        if p.returncode:
            errs.append(err.decode(errors="replace").strip()[-300:])
    if not raw.exists():
        return {"error": "; ".join(errs) or "py-spy wrote nothing"}
    summary = profiling.summarise(raw)
    summary["raw"] = str(raw.relative_to(REPO)) if raw.is_relative_to(REPO) else str(raw)
    if svg.exists():
        summary["flamegraph"] = str(svg.relative_to(REPO)) if svg.is_relative_to(REPO) else str(svg)
    return summary


def choose_generators(choice: str, venv: Path, body_file: Path, load_cpus: str | None, log: Any) -> GeneratorPlan:
    """wrk saturates (closed loop); the fixed low rate uses ``isthmus loadtest`` (open loop,
    latency from intended send time) when it is available, with wrk's fixed rate as a cross-check."""
    wrk = WrkGenerator(body_file, load_cpus) if shutil.which("wrk") else None
    isth = None
    if choice in ("auto", "isthmus"):
        reason = IsthmusLoadtestGenerator.unavailable(venv)
        if reason is None:
            isth = IsthmusLoadtestGenerator(venv, body_file, load_cpus)
        elif choice == "isthmus":
            raise SystemExit(f"bench: {reason}")
        else:
            log(f"bench: {reason}; using wrk for everything")
    if wrk is None:
        if isth is None:
            raise SystemExit("bench: wrk is not installed and isthmus loadtest is unavailable")
        log("bench: wrk missing: saturating with isthmus loadtest (open loop; may not saturate the targets)")
        return GeneratorPlan(saturate=isth, fixed_rate=isth)
    if isth is None or choice == "wrk":
        return GeneratorPlan(saturate=wrk, fixed_rate=wrk)
    return GeneratorPlan(saturate=wrk, fixed_rate=isth, cross_check=((wrk, "fixed_rate"),))


def run_target(name: str, sup: Supervisor, tools: Tools, backend: Running, plan: GeneratorPlan,
               args: argparse.Namespace, proxy_cpus: str | None, load_cpus: str | None, *, profile: bool,
               cross_check: bool, out_dir: Path, stamp: str, log: Any) -> tuple[report.TargetResult, dict[str, Any] | None]:
    """Start one target, measure it, optionally profile it, stop it."""
    if name == "direct":
        assert backend.proc
        return measure(backend, backend.proc.pid, plan, args, log, cross_check, None), None
    reason = unavailable_reason(name, tools)
    if reason:
        log(f"  skipped: {reason}")
        return report.TargetResult(name, skipped=reason), None
    target = None
    try:
        backend_port = int(backend.url.rsplit(":", 1)[1])
        target = PROXIES[name](sup, tools, backend_port, proxy_cpus)
        first = check(target.url)
        if name in CACHE_TARGETS:
            # The same body every time: from the second request on, every answer is a cache hit. A
            # fresh gateway answers before its Redis client has connected (those requests are misses,
            # by design), so ask again for up to 5 s before calling the target broken.
            seen, deadline = [first], time.monotonic() + 5
            while seen[-1] != "hit" or len(seen) < 2:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{target.url}: x-isthmus-cache never 'hit' in 5 s: {seen[-5:]}")
                time.sleep(0.05 if len(seen) > 1 else 0)
                seen.append(check(target.url))
            log(f"  check: x-isthmus-cache {', '.join(seen)}")
        assert target.proc
        # isthmus-workers is not pinned, so there is no core of its own to measure others' CPU on
        core = None if name == "isthmus-workers" else proxy_cpus
        counters = None
        if name == "isthmus-cache-redis" and tools.redis_url:
            url = tools.redis_url
            counters = lambda: redis_stats(url)  # noqa: E731
        res = measure(target, target.proc.pid, plan, args, log, cross_check, core, counters)
        if name in CACHE_TARGETS:
            res.extra["x_isthmus_cache_after"] = check(target.url, "hit")
        prof = profile_isthmus(target, plan.saturate, args, load_cpus, out_dir, stamp, log) if profile else None
        return res, prof
    except (RuntimeError, OSError) as exc:
        log(f"  failed: {exc}")
        return report.TargetResult(name, skipped=f"failed: {str(exc).splitlines()[0][:200]}"), None
    finally:
        if target and target.proc:
            sup.stop(target.proc)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.targets is None:
        args.targets = ",".join(["direct", *(n for n in PROXIES if n != "isthmus-workers")]
                                + (["isthmus-workers"] if args.gateway_workers >= 2 else []))
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    if "isthmus-workers" in names and args.gateway_workers < 2:
        args.gateway_workers = 2
    unknown = set(names) - {"direct", *PROXIES}
    if unknown:
        raise SystemExit(f"bench: unknown targets {sorted(unknown)}")
    venv, out_dir = Path(args.venv), Path(args.out)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    workdir = Path(tempfile.mkdtemp(prefix="isthmus-bench-"))
    os.chmod(workdir, 0o755)
    sup = Supervisor(workdir)
    # Make SIGTERM/SIGHUP behave like Ctrl-C so the finally block stops every process.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    ok = False
    try:
        load_before = load_average()
        tools = Tools.find(venv)
        tools = dataclasses.replace(tools, gateway_workers=max(2, args.gateway_workers))
        if args.no_nginx:
            tools = dataclasses.replace(tools, nginx=None)
        proxy_cpus, load_cpus, pin_desc = pinning()
        if args.grpc_only:
            grpc_res = grpc_bench.run(sup, tools.python, tools.isthmus, tools.envoy, proxy_cpus, load_cpus, args, log)
            rep = {"started": stamp, "machine": {**report.machine(), "load_average_before": load_before,
                                                 "load_average_after": load_average()},
                   "isthmus_source": report.isthmus_source(REPO), "pinning": {"description": pin_desc},
                   "settings": {"rate": args.rate, "rate_s": args.rate_seconds}, "grpc": grpc_res}
            md = f"# Isthmus bench (gRPC only) — {stamp}\n\nPinning: {pin_desc}\n" + grpc_bench.markdown(grpc_res)
            j, m = report.write(rep, md, out_dir, stamp)
            print(md)
            log(f"wrote {j} and {m}")
            ok = True
            return 0
        body_file = workdir / "request.json"
        body_file.write_text(REQUEST_BODY)
        plan = choose_generators(args.generator, venv, body_file, load_cpus, log)
        backend, backend_kind = start_backend(sup, tools, load_cpus)
        check(backend.url)
        log(f"backend: {backend_kind} at {backend.url}; pinning: {pin_desc}")
        if "isthmus-cache-redis" in names and tools.redis_server:
            try:
                tools = dataclasses.replace(tools, redis_url=start_redis(sup, tools, load_cpus))
                log(f"redis: {tools.redis_server} at {tools.redis_url} (with the load generator and backend)")
            except (RuntimeError, OSError) as exc:
                log(f"redis: could not start: {exc}")

        per_round: dict[str, list[report.TargetResult]] = {n: [] for n in names}
        prof: dict[str, Any] | None = None
        # py-spy sees no Python frames inside compiled modules: profile the same code interpreted
        profiled = "isthmus-interpreted" if tools.compiled and "isthmus-interpreted" in names else "isthmus"
        for rnd in range(1, args.rounds + 1):
            last = rnd == args.rounds
            for name in names:
                log(f"[round {rnd}/{args.rounds}: {name}]")
                res, p = run_target(name, sup, tools, backend, plan, args, proxy_cpus, load_cpus,
                                    profile=last and name == profiled and args.profile_seconds > 0,
                                    cross_check=rnd == 1,
                                    out_dir=out_dir, stamp=stamp, log=log)
                per_round[name].append(res)
                if p:
                    prof = {**p, "target": name}
        results = {n: report.best_of(rs) for n, rs in per_round.items()}

        burst_res = xds_res = None
        if not args.no_burst:
            log(f"[coalescing burst: {args.burst_size} identical requests at once, backend "
                f"{args.burst_delay_ms:g} ms per answer, {args.burst_rounds} burst(s) per variant]")
            try:
                burst_res = burst.run(sup, tools, proxy_cpus, load_cpus, args.burst_size, args.burst_rounds,
                                      args.burst_delay_ms, log)
            except (RuntimeError, OSError) as exc:
                log(f"  failed: {exc}")
                burst_res = {"error": str(exc).splitlines()[0][:300]}
        if not args.no_xds:
            log(f"[xDS control plane: {' / '.join(map(str, args.xds_clients))} clients, {args.xds_rounds} rounds]")
            xds_res = xds_bench.run(tools.python, args.xds_clients, args.xds_rounds, workdir / "xds.json", REPO, log)

        meta = {
            "started": stamp,
            "machine": {**report.machine(), "load_average_before": load_before, "load_average_after": load_average()},
            "versions": versions(tools),
            "isthmus_source": report.isthmus_source(REPO),
            "backend": backend_kind,
            "pinning": {"proxy_cpus": proxy_cpus, "load_and_backend_cpus": load_cpus, "description": pin_desc},
            "settings": {"saturation_connections": args.connections, "saturation_s": args.saturation_seconds,
                         "warmup_s": args.warmup_seconds, "rate": args.rate, "rate_s": args.rate_seconds,
                         "rounds": args.rounds},
            "generators": plan.describe(),
            "redis": tools.redis_url and {"binary": tools.redis_server, "url": tools.redis_url},
        }
        grpc_res = None
        if not args.no_grpc:
            log("[gRPC: grpc-direct, grpc-isthmus, grpc-envoy]")
            try:
                grpc_res = grpc_bench.run(sup, tools.python, tools.isthmus, tools.envoy, proxy_cpus, load_cpus, args, log)
            except (RuntimeError, OSError) as exc:
                log(f"  failed: {exc}")
                grpc_res = {"error": str(exc).splitlines()[0][:300]}
        rep = report.build(meta, results, prof, burst_res, xds_res)
        md = report.markdown(rep, results)
        if grpc_res is not None:
            rep["grpc"] = grpc_res
            md += grpc_bench.markdown(grpc_res) if "targets" in grpc_res else f"\n## gRPC\n\nfailed: {grpc_res['error']}\n"
        j, m = report.write(rep, md, out_dir, stamp)
        print(md)
        log(f"wrote {j} and {m}")
        ok = True
        return 0
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130
    finally:
        sup.stop_all()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"bench: logs kept in {workdir}")


if __name__ == "__main__":
    sys.exit(main())
