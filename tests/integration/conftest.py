"""Fixtures shared by the integration tests."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from tests.processes import Process, isthmus_argv, start_process


@pytest.fixture
def spawn(tmp_path_factory) -> Iterator[Callable[..., Process]]:
    """``spawn(argv, env=..., cwd=...)`` starts ``argv`` with tests/processes.py (own session, output in a
    log file); all are stopped at the end (SIGTERM, then SIGKILL)."""
    procs: list[Process] = []
    logs = tmp_path_factory.mktemp("processes")

    def start(argv: list[str], **kwargs) -> Process:
        p = start_process(argv, log_dir=logs, **kwargs)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def process(spawn) -> Callable[..., Process]:
    """``process(*args)`` starts ``python -m isthmus *args``; all are stopped at the end."""
    return lambda *args: spawn(isthmus_argv(*args), name="isthmus")
