"""Multi-process mode: N gateway processes share one port through SO_REUSEPORT.

The supervisor reserves the port, starts the workers (fresh interpreters, so
no event loop or onnxruntime thread crosses a fork), restarts a worker that
dies, and stops them all on SIGINT/SIGTERM. The kernel spreads connections
over the workers' listening sockets.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Callable

log = logging.getLogger(__name__)


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Bind (without listening) a SO_REUSEPORT socket, so port 0 resolves to one port for every worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock, sock.getsockname()[1]


class Supervisor:
    def __init__(
        self,
        target: Callable[..., None],
        args: tuple[object, ...],
        workers: int,
        restart_delay: float = 1.0,
    ):
        self._ctx = multiprocessing.get_context("spawn")
        self._target = target
        self._args = args
        self._n = workers
        self._restart_delay = restart_delay
        self._stop = threading.Event()
        self.processes: list[BaseProcess] = []

    def _spawn(self, index: int) -> BaseProcess:
        p = self._ctx.Process(target=self._target, args=self._args, name=f"isthmus-worker-{index}", daemon=False)
        p.start()
        return p

    def stop(self, *_: object) -> None:
        self._stop.set()

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)
        self.processes = [self._spawn(i) for i in range(self._n)]
        while not self._stop.wait(0.2):
            for i, p in enumerate(self.processes):
                if not p.is_alive():
                    log.warning("worker %s (pid %s) exited with %s; restarting", i, p.pid, p.exitcode)
                    if self._stop.wait(self._restart_delay):
                        break
                    self.processes[i] = self._spawn(i)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + 15
        for p in self.processes:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
        return 0
