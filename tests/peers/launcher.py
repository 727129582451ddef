"""Start the real model-server peers (tests/peers/<peer>/serve.py) for integration tests.

Stdlib only: imported by the gateway's pytest process, while each peer runs from
its own virtual environment (built by tests/peers/build.sh).

    with start_peer("kserve", venv, model="m", offset=1.0) as peer:
        post(f"{peer.url}/v2/models/m/infer", ...)
        peer.kill()  # simulate a crash

Every peer listens on 127.0.0.1 only, on ports picked here. Readiness is polled at
``Peer.ready_url``: ``/v2/health/ready`` for kserve and mlserver, ``/NAME/-/healthz``
for ray.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PEERS", "Peer", "PeerError", "free_port", "start_peer"]

PEERS = ("kserve", "mlserver", "ray")
HOST = "127.0.0.1"
PEERS_DIR = Path(__file__).resolve().parent
_POLL_INTERVAL = 0.25
_LOG_TAIL_LINES = 60
# Variables of the caller's environment that would leak into the peer's interpreter.
_SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


class PeerError(RuntimeError):
    """A peer could not be started: it died, never became ready, or its venv is missing."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Peer:
    """A running peer process (leader of its own session) and where to reach it."""

    kind: str
    models: dict[str, float]  # model name -> offset
    port: int
    ready_urls: tuple[str, ...]  # all answer 200 once the peer is ready (ray: one per model)
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    grpc_port: int | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def ready_url(self) -> str:
        return self.ready_urls[0]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def model(self) -> str:
        """The first (usually only) model name."""
        return next(iter(self.models))

    @property
    def offset(self) -> float:
        return self.models[self.model]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL every process of the peer (simulates a crash) and reap the main process."""
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the peer, wait up to ``timeout`` s for a clean exit, then SIGKILL any leftover.

        Returns the exit code of the main process (None if it had to be killed).
        """
        code = self.process.poll()
        if code is None:
            try:
                self.process.send_signal(signal.SIGTERM)
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
        # Kill helpers left in the session (Ray's daemons if the driver died early).
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait()
        return code

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

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
    log_path = workdir / f"{peer}-{port}.log"
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # write nothing into the repo
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,  # own session and process group: kill() reaches every helper
        )
    handle = Peer(
        kind=peer,
        models=models,
        port=port,
        ready_urls=tuple(f"http://{HOST}:{port}{path}" for path in ready_paths),
        log_path=log_path,
        process=process,
        grpc_port=grpc_port,
    )
    try:
        _wait_ready(handle, timeout)
    except BaseException:
        handle.kill()
        raise
    return handle


def _wait_ready(peer: Peer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = peer.process.poll()
        if code is not None:
            raise PeerError(
                f"{peer.kind} peer exited with code {code} before becoming ready; "
                f"log {peer.log_path}:\n{peer.log_tail()}"
            )
        if all(_answers_200(url) for url in peer.ready_urls):
            return
        if time.monotonic() >= deadline:
            raise PeerError(
                f"{peer.kind} peer not ready at {peer.ready_url} after {timeout:.0f}s; "
                f"log {peer.log_path}:\n{peer.log_tail()}"
            )
        time.sleep(_POLL_INTERVAL)


def _answers_200(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):  # HTTPError (non-2xx) is a URLError
        return False


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal every process of the peer's session (``start_new_session``: its id is the pid).

    Ray gives each actor its own process group inside the session, so ``killpg`` alone
    would leave the Serve proxy and replicas answering for a few seconds after a "crash".
    """
    members = _session_members(process.pid)
    for pid in members:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    if not members:  # no /proc: fall back to the process group
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _session_members(sid: int) -> list[int]:
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid:  # state, ppid, pgrp, session
            members.append(int(entry))
    return members
