"""`isthmus demo` and `isthmus serve` as real processes."""

import os
import signal
import subprocess
import urllib.request

import orjson

from tests.conftest import free_port, v2_body
from tests.processes import Process
from tests.waiting import wait_until


def wait_ready(proc: Process, url: str, timeout: float = 30) -> None:
    proc.wait_for_url(url, timeout=timeout)


def post(url: str, doc: dict, headers: dict | None = None, want: str = "x-isthmus-backend"):
    req = urllib.request.Request(url, data=orjson.dumps(doc), headers=headers or {}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers[want], orjson.loads(r.read())


def test_demo_serves_a_90_10_canary_and_stops_on_sigterm(process):
    port = free_port()
    proc = process("demo", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_ready(proc, base + "/v2/health/ready")
    seen = {}
    for _ in range(200):
        backend, doc = post(base + "/v2/models/demo/infer", v2_body([1, 2, 3, 4]))
        seen[backend] = doc["outputs"][0]["data"]
    assert seen == {"demo-v1": [2.0, 4.0, 6.0, 8.0], "demo-v2": [102.0, 104.0, 106.0, 108.0]}
    backend, _ = post(base + "/v2/models/demo/infer", v2_body([1.0]), {"x-isthmus-variant": "demo-v2"})
    assert backend == "demo-v2"
    # the demo caches results: the same request to the same variant is then a hit
    pinned = {"x-isthmus-variant": "demo-v1"}
    assert post(base + "/v2/models/demo/infer", v2_body([7.0, 8.0]), pinned, "x-isthmus-cache")[0] == "miss"
    status, doc = post(base + "/v2/models/demo/infer", v2_body([7.0, 8.0]), pinned, "x-isthmus-cache")
    assert status == "hit" and doc["outputs"][0]["data"] == [14.0, 16.0]
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"curl -si {base}/v2/models/demo/infer" in out


def test_serve_runs_a_config_file(process, tmp_path, onnx_models):
    port = free_port()
    cfg = tmp_path / "traffic.yaml"
    cfg.write_text(f"""
listener: {{address: "127.0.0.1:{port}"}}
backends:
  - {{name: local, protocol: onnx, model_path: {onnx_models['double100']}}}
routes:
  - model: scorer
    variants: [{{backend: local, weight: 1}}]
""")
    proc = process("serve", "--config", str(cfg))
    wait_ready(proc, f"http://127.0.0.1:{port}/v2/health/ready")
    backend, doc = post(f"http://127.0.0.1:{port}/v2/models/scorer/infer", v2_body([1.0]))
    assert backend == "local" and doc["outputs"][0]["data"] == [102.0]


def test_serve_stops_with_a_clear_error_when_a_model_cannot_load(process, tmp_path):
    bad_model = tmp_path / "broken.onnx"
    bad_model.write_bytes(b"this is not an onnx model")
    cfg = tmp_path / "traffic.yaml"
    cfg.write_text(f"""
listener: {{address: "127.0.0.1:{free_port()}"}}
backends:
  - {{name: local, protocol: onnx, model_path: {bad_model}}}
routes:
  - model: scorer
    variants: [{{backend: local, weight: 1}}]
""")
    proc = process("serve", "--config", str(cfg))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "cannot start backend 'local'" in out and "Traceback" not in out


def test_workers_share_the_port_and_a_dead_worker_is_replaced(process, tmp_path, onnx_models):
    port = free_port()
    cfg = tmp_path / "traffic.yaml"
    cfg.write_text(f"""
listener: {{address: "127.0.0.1:{port}"}}
backends:
  - {{name: local, protocol: onnx, model_path: {onnx_models['double']}}}
routes:
  - model: scorer
    variants: [{{backend: local, weight: 1}}]
""")
    proc = process("serve", "--config", str(cfg), "--workers", "2")
    url = f"http://127.0.0.1:{port}"

    def workers() -> set[int]:
        """Children of the supervisor that listen on the port (multiprocessing adds a resource tracker)."""
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
        return {int(p) for p in out.split() if _listens(int(p), port)}

    wait_until(lambda: len(workers()) == 2, f"2 workers listening on {port}", 60, interval=0.2,
               detail=lambda: f"workers: {workers()}")
    for _ in range(20):
        assert post(url + "/v2/models/scorer/infer", v2_body([1.0]))[1]["outputs"][0]["data"] == [2.0]
    victim = min(workers())
    os.kill(victim, signal.SIGKILL)  # connections queued on the victim's socket are reset by the kernel
    wait_until(lambda: victim not in workers() and len(workers()) == 2, "the dead worker replaced", 60,
               interval=0.2, detail=lambda: f"workers: {workers()}")
    for _ in range(20):
        assert post(url + "/v2/models/scorer/infer", v2_body([2.0]))[1]["outputs"][0]["data"] == [4.0]
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)
    assert proc.returncode == 0


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a listening socket on ``port`` (from /proc)."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return False
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    listening = {f"socket:[{r[9]}]" for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port}
    return bool(inodes & listening)
