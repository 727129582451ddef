"""Start the real model-server peers (tests/peers/<peer>/serve.py) for integration tests.

Stdlib only (over tests/processes.py, which starts, watches and stops the process): imported by the gateway's pytest process, while each peer runs from
its own virtual environment (built by tests/peers/build.sh).

    with start_peer("kserve", venv, model="m", offset=1.0) as peer:
        post(f"{peer.url}/v2/models/m/infer", ...)
        peer.kill()  # simulate a crash

Every peer listens on 127.0.0.1 only, on ports picked here. Readiness is polled at
``Peer.ready_url``: ``/v2/health/ready`` for kserve and mlserver, ``/NAME/-/healthz``
for ray.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import HOST, Process, free_port, start_process

__all__ = ["PEERS", "Peer", "PeerError", "free_port", "start_peer"]

PEERS = ("kserve", "mlserver", "ray")
PEERS_DIR = Path(__file__).resolve().parent
_LOG_TAIL_LINES = 60


class PeerError(RuntimeError):
    """A peer could not be started: it died, never became ready, or its venv is missing."""


@dataclass
class Peer:
    """A running peer (a :class:`tests.processes.Process`) and where to reach it."""

    kind: str
    models: dict[str, float]  # model name -> offset
    port: int
    ready_urls: tuple[str, ...]  # all answer 200 once the peer is ready (ray: one per model)
    running: Process = field(repr=False)
    grpc_port: int | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def ready_url(self) -> str:
        return self.ready_urls[0]

    @property
    def process(self):  # the subprocess.Popen
        return self.running.popen

    @property
    def log_path(self) -> Path:
        return self.running.log_path

    @property
    def pid(self) -> int:
        return self.running.pid

    @property
    def model(self) -> str:
        """The first (usually only) model name."""
        return next(iter(self.models))

    @property
    def offset(self) -> float:
        return self.models[self.model]

    def alive(self) -> bool:
        return self.running.alive()

    def kill(self) -> None:
        """SIGKILL every process of the peer (simulates a crash) and reap the main process."""
        self.running.kill()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the peer, wait up to ``timeout`` s for a clean exit, then SIGKILL any leftover.

        Returns the exit code of the main process (None if it had to be killed).
        """
        return self.running.stop(grace=timeout)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return self.running.tail(lines)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_peer(
    peer: str,
    venv: Path | str,
    model: str,
    offset: float = 0.0,
    timeout: float = 120.0,
    *,
    extra_models: Sequence[tuple[str, float]] = (),
    deployments: Mapping[str, str] | None = None,
    log_dir: Path | str | None = None,
) -> Peer:
    """Start ``peer`` (one of :data:`PEERS`) from ``venv`` and wait until it is ready.

    ``extra_models`` (ray only) serves more ``(name, offset)`` models in the same
    Ray cluster; ``deployments`` (ray only) maps a model name to its Ray deployment,
    ``affine`` (the default) or ``seed000`` (see ``ray/serve.py``). The log goes to ``log_dir`` (a new temp dir by default), which is
    also the process's working directory. Raises :class:`PeerError` with the log
    tail if the process dies or is not ready within ``timeout`` seconds.
    """
    if peer not in PEERS:
        raise PeerError(f"unknown peer {peer!r}; expected one of {PEERS}")
    if extra_models and peer != "ray":
        raise PeerError("extra_models is supported by the ray peer only")
    if deployments and peer != "ray":
        raise PeerError("deployments is supported by the ray peer only")
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        raise PeerError(f"{python} not found: run tests/peers/build.sh {peer} {venv}")
    models = {model: float(offset)}
    for name, extra_offset in extra_models:
        if name in models:
            raise PeerError(f"duplicate model name {name!r}")
        models[name] = float(extra_offset)

    port = free_port()
    argv = [str(python), str(PEERS_DIR / peer / "serve.py"), "--port", str(port)]
    grpc_port = None
    if peer in ("mlserver", "kserve"):  # both serve V2 gRPC too: give it a free loopback port
        grpc_port = free_port()
        argv += ["--grpc-port", str(grpc_port)]
    if peer == "ray":
        kinds = deployments or {}
        argv += [
            arg for name, value in models.items()
            for arg in ("--model", f"{name}:{value!r}" + (f"@{kinds[name]}" if name in kinds else ""))
        ]  # fmt: skip
    else:
        argv += ["--model", model, "--offset", repr(float(offset))]
    ready_paths = [f"/{name}/-/healthz" for name in models] if peer == "ray" else ["/v2/health/ready"]

    workdir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix=f"isthmus-peer-{peer}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    running = start_process(argv, name=peer, log_path=workdir / f"{peer}-{port}.log", cwd=workdir, foreign_python=True)
    handle = Peer(
        kind=peer,
        models=models,
        port=port,
        ready_urls=tuple(f"http://{HOST}:{port}{path}" for path in ready_paths),
        running=running,
        grpc_port=grpc_port,
    )
    try:
        running.wait_for_urls(handle.ready_urls, timeout=timeout)
    except AssertionError as err:
        handle.kill()
        raise PeerError(f"{peer} peer not ready: {err}") from None
    except BaseException:
        handle.kill()
        raise
    return handle
