"""The coalescing burst: N identical requests at once (N connections opened first, then every
request written back to back) to Isthmus in front of a slow backend, per cache variant; counts
the backend's calls and times each request's completion from the moment the burst starts."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.procs import Supervisor, cpu_busy_seconds, free_port, load_average, tree_cpu_seconds, wait_for_port
from bench.targets import HERE, INFER_PATH, RESPONSE_BODY, Tools, _start_isthmus_cached

# name -> the route's `cache:` in bench/configs/isthmus-cache.yaml (no gateway-wide section: L1 only)
VARIANTS: dict[str, str] = {
    "cache + coalesce": "{enabled: true, ttl: 10m, coalesce: true}",
    "cache, coalesce: false": "{enabled: true, ttl: 10m, coalesce: false}",
    "cache off": "{enabled: false}",
}


def body(k: int) -> bytes:
    """A V2 request whose tensor data differ per ``k``: every burst starts with a cold cache key."""
    data = ",".join(f"{k * 100 + i / 10:.1f}" for i in range(16))
    return ('{"id":"1","inputs":[{"name":"input-0","datatype":"FP32","shape":[1,16],"data":[' + data + "]}]}").encode()


@dataclass
class Burst:
    n: int
    backend_calls: int
    times_ms: list[float] = field(repr=False)
    statuses: dict[str, int]
    cache: dict[str, int]  # x-isthmus-cache values
    others_pct: float | None = None  # other processes' CPU on the gateway's core during the burst

    def summary(self) -> dict[str, Any]:
        t = sorted(self.times_ms)
        return {"n": self.n, "backend_calls": self.backend_calls, "p50_ms": round(_pct(t, 50), 1),
                "p99_ms": round(_pct(t, 99), 1), "max_ms": round(t[-1], 1) if t else None,
                "statuses": self.statuses, "x_isthmus_cache": self.cache, "others_on_gateway_core_pct": self.others_pct}


def _pct(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


async def _one_burst(port: int, n: int, payload: bytes) -> tuple[list[float], dict[str, int], dict[str, int]]:
    conns = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(n)))
    req = (f"POST {INFER_PATH} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
           f"content-length: {len(payload)}\r\n\r\n").encode() + payload

    async def answer(reader: asyncio.StreamReader, t0: float) -> tuple[float, str, str]:
        try:
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)).decode("latin-1")
            lines = head.split("\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            await reader.readexactly(int(hdrs.get("content-length", "0")))
            return (time.perf_counter() - t0) * 1000, lines[0].split(" ")[1], hdrs.get("x-isthmus-cache", "-")
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, IndexError, ValueError) as exc:
            return (time.perf_counter() - t0) * 1000, type(exc).__name__, "-"

    t0 = time.perf_counter()
    for _, w in conns:
        w.write(req)
    res = await asyncio.gather(*(answer(r, t0) for r, _ in conns))
    for _, w in conns:
        w.close()
    statuses: dict[str, int] = {}
    cache: dict[str, int] = {}
    for _, s, c in res:
        statuses[s] = statuses.get(s, 0) + 1
        cache[c] = cache.get(c, 0) + 1
    return [t for t, s, _ in res if s == "200"], statuses, cache


def _calls(backend_url: str) -> int:
    with urllib.request.urlopen(backend_url + "/calls", timeout=10) as r:
        return int(json.loads(r.read())["calls"])


def run(sup: Supervisor, tools: Tools, proxy_cpus: str | None, load_cpus: str | None, n: int, rounds: int,
        delay_ms: float, log: Callable[[str], None]) -> dict[str, Any]:
    """Every variant: a fresh gateway on the proxy CPU, ``rounds`` bursts of ``n`` with a new body
    each (a cold key), backend calls counted per burst. The bench process sends the bursts pinned
    to the load generator's CPUs."""
    resp = sup.workdir / "slow-response.json"
    resp.write_text(RESPONSE_BODY)
    bport = free_port()
    backend = sup.start("slow-backend", [tools.python, str(HERE / "slow_backend.py"), str(bport), str(resp),
                                         str(delay_ms)], load_cpus)
    out: dict[str, Any] = {"n": n, "rounds": rounds, "backend_delay_ms": delay_ms,
                           "backend_max_connections": _default_max_connections(),
                           "load_average_before": load_average(), "variants": {}}
    before = os.sched_getaffinity(0)
    try:
        wait_for_port(backend, bport)
        burl = f"http://127.0.0.1:{bport}"
        if load_cpus:
            os.sched_setaffinity(0, {int(c) for c in load_cpus.split(",")})
        for k, (name, route_cache) in enumerate(VARIANTS.items()):
            gw = _start_isthmus_cached(sup, tools, bport, proxy_cpus, f"burst-{k}", "", route_cache)
            try:
                asyncio.run(_one_burst(int(gw.url.rsplit(":", 1)[1]), 1, body(10_000 + k)))  # warm-up: one call
                bursts = []
                assert gw.proc
                for r in range(rounds):
                    c0 = _calls(burl)
                    own0, busy0, t0 = tree_cpu_seconds(gw.proc.pid), cpu_busy_seconds(proxy_cpus), time.monotonic()
                    times, statuses, cache = asyncio.run(
                        _one_burst(int(gw.url.rsplit(":", 1)[1]), n, body(1000 * (k + 1) + r)))
                    own, busy = tree_cpu_seconds(gw.proc.pid) - own0, cpu_busy_seconds(proxy_cpus) - busy0
                    others = round(max(0.0, 100 * (busy - own) / (time.monotonic() - t0)), 0) if proxy_cpus else None
                    b = Burst(n, _calls(burl) - c0, times, statuses, cache, others)
                    bursts.append(b.summary())
                    log(f"  burst {name} #{r + 1}: {b.backend_calls} backend calls, p50 {bursts[-1]['p50_ms']} ms, "
                        f"p99 {bursts[-1]['p99_ms']} ms, max {bursts[-1]['max_ms']} ms, statuses {statuses}, "
                        f"x-isthmus-cache {cache}, others on the gateway's core {others}%")
            finally:
                if gw.proc:
                    sup.stop(gw.proc)
            out["variants"][name] = {"route_cache": route_cache, "bursts": bursts, **_median(bursts)}
    finally:
        os.sched_setaffinity(0, before)
        sup.stop(backend)
    return out


def _default_max_connections() -> int | None:
    """The gateway's default connection pool per backend (the burst config leaves it unset)."""
    try:
        from isthmus.config.model import _HttpBackend

        return int(_HttpBackend.model_fields["max_connections"].default)
    except Exception:  # noqa: BLE001 - only a label in the report
        return None


def _median(bursts: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float | None:
        vals = [b[key] for b in bursts if b[key] is not None]
        return round(statistics.median(vals), 1) if vals else None

    return {"backend_calls_median": med("backend_calls"), "p50_ms_median": med("p50_ms"),
            "p99_ms_median": med("p99_ms"), "max_ms_median": med("max_ms"),
            "max_ms_worst": max((b["max_ms"] for b in bursts if b["max_ms"] is not None), default=None),
            "errors": sum(v for b in bursts for s, v in b["statuses"].items() if s != "200")}
