"""Fixtures shared by the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Callable, Iterator

import pytest


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    """``spawn(argv, **popen_kwargs)`` starts ``argv`` in its own session, output piped (text); all are
    stopped at the end (SIGTERM to the session, then SIGKILL)."""
    procs: list[subprocess.Popen] = []

    def start(argv: list[str], **kwargs) -> subprocess.Popen:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True, **kwargs)  # fmt: skip
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        if p.stdout is not None:
            p.stdout.close()


@pytest.fixture
def process(spawn) -> Callable[..., subprocess.Popen]:
    """``process(*args)`` starts ``python -m isthmus *args`` in its own session; all are stopped at the end."""
    return lambda *args: spawn([sys.executable, "-m", "isthmus", *args])
