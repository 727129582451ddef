"""A gateway run as a user runs it (``python -m isthmus ...``), started with tests/processes.py."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.processes import isthmus_argv, start_process

URL_LINE = r"(?:demo gateway on|isthmus serving \d+ models? on) (http://127\.0\.0\.1:\d+)"


@dataclass(frozen=True)
class RunningGateway:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def gateway_process(args: list[str], log_path: Path, timeout: float = 60.0) -> Iterator[RunningGateway]:
    """Start ``python -m isthmus *args``; yields once it prints its URL (within ``timeout``)."""
    with start_process(isthmus_argv(*args), name="isthmus", log_path=log_path) as proc:
        yield RunningGateway(proc.wait_for_line(URL_LINE, timeout).group(1), log_path)
