"""The primary backend is killed (SIGKILL) mid-run: the fallback answers, no client sees an error."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson

from tests.conftest import free_port, v2_body

ROOT = Path(__file__).resolve().parents[2]


async def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)


async def test_fallback_when_primary_is_killed_mid_run(gateway, http, onnx_models):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.tfserving_rest", "--port", str(port), "--model", "m", "--offset", "100"],
        cwd=ROOT, start_new_session=True,
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/v1/models/m")
        server = await gateway({
            "backends": [
                {"name": "tfs", "protocol": "tfserving", "endpoints": [f"http://127.0.0.1:{port}"], "timeout": "2s"},
                {"name": "local", "protocol": "onnx", "model_path": str(onnx_models["double"])},
            ],
            "routes": [{"model": "m", "variants": [{"backend": "tfs", "weight": 1}], "fallback": "local"}],
        })
        body = orjson.dumps(v2_body([1.0, 2.0]))
        seen: Counter = Counter()
        statuses: Counter = Counter()

        async def client(stop: asyncio.Event):
            while not stop.is_set():
                async with http.post(server.url + "/v2/models/m/infer", data=body) as r:
                    statuses[r.status] += 1
                    doc = await r.json()
                    backend = r.headers["x-isthmus-backend"]
                    seen[backend] += 1
                    assert doc["outputs"][0]["data"] == ([102.0, 104.0] if backend == "tfs" else [2.0, 4.0])

        stop = asyncio.Event()
        tasks = [asyncio.create_task(client(stop)) for _ in range(8)]
        await asyncio.sleep(1.0)
        os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
        assert set(statuses) == {200}, statuses
        assert seen["tfs"] > 0 and seen["local"] > 0, seen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
