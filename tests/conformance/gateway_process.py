"""A gateway run as a user runs it (``python -m isthmus ...``), in its own session, its output in a file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

URL_LINE = re.compile(r"(?:demo gateway on|isthmus serving \d+ models? on) (http://127\.0\.0\.1:\d+)")


@dataclass(frozen=True)
class RunningGateway:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def gateway_process(args: list[str], log_path: Path, timeout: float = 60.0) -> Iterator[RunningGateway]:
    """Start ``python -m isthmus *args``; yields once it prints its URL (polled until ``timeout``)."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "isthmus", *args], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while (match := URL_LINE.search(log_path.read_text(errors="replace"))) is None:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway not up after {timeout}s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.05)  # polling the log file for the URL line, with a deadline
        yield RunningGateway(match.group(1), log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
