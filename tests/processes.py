"""The one way tests start a process: its own session, output in a log file, readiness with a deadline,
and a stop that always happens (SIGTERM to its group, then SIGKILL to its whole session after a grace).

Stdlib only (the peers' launcher imports it from the gateway's pytest process).

    with start_process([python, "-m", "isthmus", "serve", ...], log_dir=tmp_path, name="gw") as gw:
        url = gw.wait_for_line(r"serving on (http://\\S+)").group(1)
        gw.wait_for_url(url + "/v2/health/ready")

The output goes to a file, never a pipe (a pipe nobody reads fills and blocks the child); every
failure message carries the log's tail. Processes bind 127.0.0.1: pass them port 0 when they can
report the port they got (``wait_for_line``), else a :func:`free_port`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["HOST", "Process", "answers", "free_port", "isthmus_argv", "start_process"]

HOST = "127.0.0.1"
_POLL = 0.02
_TAIL_LINES = 60
#: Variables of this interpreter's environment that would leak into another venv's interpreter.
FOREIGN_PYTHON_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for programs that cannot take port 0 and report it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def isthmus_argv(*args: str) -> list[str]:
    """``python -m isthmus ARGS`` with this interpreter."""
    return [sys.executable, "-m", "isthmus", *args]


def answers(url: str, status: int = 200, timeout: float = 2.0) -> bool:
    """Does ``url`` answer GET with ``status`` right now (never through a proxy)?"""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == status
    except urllib.error.HTTPError as err:
        return err.code == status
    except (urllib.error.URLError, OSError):
        return False


class Process:
    """A started process, leader of its own session, its output (stdout and stderr) in ``log_path``."""

    def __init__(self, popen: subprocess.Popen, log_path: Path, name: str) -> None:
        self.popen = popen
        self.log_path = log_path
        self.name = name

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def alive(self) -> bool:
        return self.popen.poll() is None

    # the few Popen calls tests make, so a Process stands where a Popen stood
    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """Wait for the exit (within ``timeout``) and return ``(output, None)``, as Popen.communicate."""
        self.popen.wait(timeout)
        return self.output(), None

    def output(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = _TAIL_LINES) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def describe(self) -> str:
        """For failure messages: name, state, log path and tail."""
        state = "running" if self.alive() else f"exited {self.popen.returncode}"
        return f"{self.name} ({state}); log {self.log_path}:\n{self.tail()}"

    def _check_deadline(self, deadline: float, timeout: float, what: str) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited before {what}: {self.describe()}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"{self.name}: not within {timeout:g}s: {what}; {self.describe()}")

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first match of ``pattern`` in the output, polled until ``timeout`` (or the process dies)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while (match := regex.search(self.output())) is None:
            if self.popen.poll() is not None and (match := regex.search(self.output())) is not None:
                break  # it printed the line and exited meanwhile
            self._check_deadline(deadline, timeout, f"a line matching {pattern!r}")
            time.sleep(_POLL)
        return match

    def wait_for_url(self, url: str, status: int = 200, timeout: float = 30.0) -> None:
        """Poll ``url`` until it answers ``status`` (or the process dies, or ``timeout``)."""
        self.wait_for_urls([url], status, timeout)

    def wait_for_urls(self, urls: Sequence[str], status: int = 200, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(answers(url, status) for url in urls):
            self._check_deadline(deadline, timeout, f"{', '.join(urls)} answering {status}")
            time.sleep(_POLL * 5)

    def wait_for_port(self, port: int, timeout: float = 30.0) -> None:
        """Poll until something accepts TCP connections on 127.0.0.1:``port``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1.0).close()
                return
            except OSError:
                self._check_deadline(deadline, timeout, f"port {port} accepting connections")
                time.sleep(_POLL)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the main process only (a graceful-shutdown test, a reload)."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL every process of the session (simulates a crash) and reap the main process."""
        _signal_session(self.popen, signal.SIGKILL)
        self.popen.wait()

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the main process's group, wait up to ``grace`` s for it, then SIGKILL the whole session.

        Returns the main process's exit code (None if it had to be killed).
        """
        code = self.popen.poll()
        if code is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                code = self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                code = None
        _signal_session(self.popen, signal.SIGKILL)  # helpers left in the session (Ray's daemons, workers)
        self.popen.wait()
        for pipe in (self.popen.stdin, self.popen.stdout):
            if pipe is not None:
                pipe.close()
        return code

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_process(
    argv: Sequence[str],
    *,
    name: str | None = None,
    log_dir: Path | str | None = None,
    log_path: Path | str | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    foreign_python: bool = False,
    pipes: bool = False,
) -> Process:
    """Start ``argv`` in its own session, stdin closed, stdout and stderr into one log file.

    The log is ``log_path``, else a new ``NAME-*.log`` in ``log_dir`` (a new temp dir when neither is given).
    ``env`` replaces the environment (default: this one, unbuffered); ``foreign_python`` drops this
    interpreter's variables (PYTHONPATH, VIRTUAL_ENV, ...) for a program run from another venv.
    ``pipes`` is for a driver the test talks to line by line: stdin and stdout are text pipes
    (``process.popen.stdin`` / ``.stdout``) and only stderr goes to the log.
    """
    name = name or Path(argv[0]).name
    if log_path is None:
        directory = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix=f"isthmus-{name}-"))
        directory.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=directory)
        os.close(fd)
        log_path = Path(path)
    log_path = Path(log_path)
    environment = dict(os.environ if env is None else env)
    if foreign_python:
        environment = {k: v for k, v in environment.items() if k not in FOREIGN_PYTHON_ENV}
        environment["PYTHONDONTWRITEBYTECODE"] = "1"  # write nothing into the repo
    environment.setdefault("PYTHONUNBUFFERED", "1")
    with open(log_path, "ab") as log:  # appended: a restarted server keeps its earlier lines
        streams: dict = (
            {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": log, "text": True} if pipes
            else {"stdin": subprocess.DEVNULL, "stdout": log, "stderr": subprocess.STDOUT}
        )  # fmt: skip
        popen = subprocess.Popen(list(argv), cwd=cwd, env=environment, start_new_session=True, **streams)
    return Process(popen, log_path, name)


def _signal_session(popen: subprocess.Popen, sig: int) -> None:
    """Signal every process of the session (``start_new_session``: its id is the leader's pid).

    Ray gives each actor its own process group inside the session, so ``killpg`` alone would leave
    the Serve proxy and replicas answering for a few seconds after a "crash".
    """
    members = _session_members(popen.pid)
    for pid in members:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    if not members:  # no /proc (or all gone): fall back to the process group
        try:
            os.killpg(popen.pid, sig)
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
