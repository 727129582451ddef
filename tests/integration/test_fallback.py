"""The primary backend is killed (SIGKILL) mid-run: the fallback answers, no client sees an error."""

import asyncio
import sys
from collections import Counter
from pathlib import Path

import orjson

from tests.conftest import free_port, v2_body
from tests.processes import start_process
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]


async def test_fallback_when_primary_is_killed_mid_run(gateway, http, onnx_models):
    port = free_port()
    argv = [sys.executable, "-m", "tests.servers.tfserving_rest", "--port", str(port), "--model", "m", "--offset", "100"]
    proc = start_process(argv, name="tfserving-rest", cwd=ROOT)
    try:
        await asyncio.to_thread(proc.wait_for_url, f"http://127.0.0.1:{port}/v1/models/m", timeout=20)
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
        await until(lambda: seen["tfs"] >= 50, "50 answers from the primary", 30, detail=lambda: f"{seen}")
        proc.kill()  # the whole session, SIGKILL
        await until(lambda: seen["local"] >= 50, "50 answers from the fallback", 30, detail=lambda: f"{seen}")
        stop.set()
        await asyncio.gather(*tasks)
        assert set(statuses) == {200}, statuses
        assert seen["tfs"] > 0 and seen["local"] > 0, seen
    finally:
        proc.kill()
