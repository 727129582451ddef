"""Benchmark (not a test): file write -> every xDS client ACKed, and control-plane memory per client.

``python -m isthmus.xds.bench [--clients 1 100 1000] [--rounds 5] [--delta-share 0.5] [--json FILE]``

The control plane runs as its own process (``python -m isthmus.xds.cli control-plane``), so its
memory is measured alone (VmRSS from /proc). The clients are simulated in this process
(:class:`isthmus.xds.sim_client.SimClient`, one gRPC channel each, SotW or delta), subscribing to
all four types like Envoy. Each round rewrites the config file with new weights and times until
every client has ACKed the new route version; the time includes the directory poll interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import yaml

from isthmus.xds import type_urls
from isthmus.xds.resources import HTTP_ROUTES
from isthmus.xds.sim_client import SimClient


def _config(weight: int) -> dict[str, Any]:
    return {
        "listener": {"address": "127.0.0.1:18080"},
        "backends": [
            {"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9001"]},
            {"name": "b", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9002"]},
        ],
        "routes": [{"model": "m", "variants": [{"backend": "a", "weight": weight}, {"backend": "b", "weight": 100 - weight}]}],
    }


def _write(path: Path, weight: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(_config(weight)))
    tmp.replace(path)


def _rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) if m else 0


async def _until(pred: Any, timeout: float, step: float = 0.002) -> float:
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError
        await asyncio.sleep(step)
    return time.perf_counter() - t0


async def run(n_clients: int, rounds: int, delta_share: float, poll: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "default.yaml"
        _write(path, 90)
        proc = subprocess.Popen(
            [sys.executable, "-m", "isthmus.xds.cli", "--log-level", "warning", "control-plane", "--config-dir", d,
             "--port", "0", "--poll-interval", str(poll)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
            port = int(re.search(r":(\d+)", line).group(1))  # type: ignore[union-attr]
            await asyncio.sleep(0.3)
            rss_idle = _rss_kib(proc.pid)
            channels, clients = [], []
            n_delta = round(n_clients * delta_share)
            for i in range(n_clients):
                ch = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
                channels.append(ch)
                c = SimClient(ch, f"sim-{i}", "bench", delta=i < n_delta, names={type_urls.ROUTE: [HTTP_ROUTES]})
                c.start()
                clients.append(c)
            connect = await _until(lambda: all(len(c.accepted) == 4 for c in clients), 120, 0.01)
            await asyncio.sleep(0.5)
            rss_connected = _rss_kib(proc.pid)
            times = []
            for r in range(rounds):
                before = [c.accepted[type_urls.ROUTE] for c in clients]
                t0 = time.perf_counter()
                _write(path, 10 + 10 * (r % 8))
                await _until(lambda: all(c.accepted[type_urls.ROUTE] != b for c, b in zip(clients, before)), 30)
                times.append(time.perf_counter() - t0)
                await asyncio.sleep(0.2)
            for c in clients:
                await c.close()
            for ch in channels:
                await ch.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return {
        "clients": n_clients,
        "delta_clients": n_delta,
        "poll_interval_s": poll,
        "connect_all_acked_s": round(connect, 3),
        "write_to_all_acked_s": {
            "median": round(statistics.median(times), 3),
            "max": round(max(times), 3),
            "all": [round(t, 3) for t in times],
        },
        "rss_idle_mib": round(rss_idle / 1024, 1),
        "rss_connected_mib": round(rss_connected / 1024, 1),
        "rss_per_client_kib": round((rss_connected - rss_idle) / max(n_clients, 1), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m isthmus.xds.bench", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--delta-share", type=float, default=0.5, help="share of clients using delta xDS")
    p.add_argument("--poll-interval", type=float, default=0.05)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    results = []
    for n in args.clients:
        r = asyncio.run(run(n, args.rounds, args.delta_share, args.poll_interval))
        results.append(r)
        w = r["write_to_all_acked_s"]
        print(f"{n:5d} clients: write -> all ACKed median {w['median'] * 1000:.0f} ms, max {w['max'] * 1000:.0f} ms; "
              f"control plane RSS {r['rss_idle_mib']} -> {r['rss_connected_mib']} MiB "
              f"({r['rss_per_client_kib']} KiB/client)", flush=True)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "cpus": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
