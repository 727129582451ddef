"""The test harness's own launcher (tests/processes.py) and waits (tests/waiting.py)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.processes import start_process
from tests.waiting import until, wait_until

PY = sys.executable


def test_a_line_is_found_and_stop_reaches_the_whole_session(tmp_path):
    # the child starts a grandchild that ignores SIGTERM: stop() must still leave nothing behind
    code = ("import signal, subprocess, sys, time\n"
            "g = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(\"grandchild up\", flush=True); time.sleep(60)'])\n"
            "print('child', g.pid, flush=True)\n"
            "time.sleep(60)\n")  # fmt: skip
    proc = start_process([PY, "-c", code], name="tree", log_dir=tmp_path)
    grandchild = int(proc.wait_for_line(r"child (\d+)").group(1))
    proc.wait_for_line("grandchild up")
    assert proc.stop(grace=5) is not None  # the child died of the SIGTERM (-15)
    wait_until(lambda: not _alive(grandchild), "the grandchild killed with the session", 5)


def test_a_process_that_dies_fails_the_wait_with_its_log(tmp_path):
    proc = start_process([PY, "-c", "print('about to fail'); raise SystemExit(3)"], name="dies", log_dir=tmp_path)
    with pytest.raises(AssertionError, match=r"(?s)dies exited before a line matching 'never'.*about to fail"):
        proc.wait_for_line("never", timeout=30)
    assert proc.stop() == 3


def test_readiness_by_url_and_port(tmp_path):
    from tests.processes import free_port

    port = free_port()
    server = [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    with start_process(server, name="http", log_dir=tmp_path) as proc:
        proc.wait_for_port(port)
        proc.wait_for_url(f"http://127.0.0.1:{port}/")
        proc.wait_for_url(f"http://127.0.0.1:{port}/missing", status=404)
    assert not proc.alive()


async def test_until_returns_the_value_and_names_what_it_waited_for():
    box: list[int] = []
    asyncio.get_running_loop().call_later(0.01, box.append, 7)
    assert await until(lambda: box, "a value") == [7]

    async def never() -> bool:
        return False

    with pytest.raises(AssertionError, match=r"not within 0.05s: the impossible\nextra"):
        await until(never, "the impossible", 0.05, detail=lambda: "extra")
    with pytest.raises(AssertionError, match="not within 0.05s: nothing"):
        wait_until(lambda: False, "nothing", 0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
