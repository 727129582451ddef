"""The access log: JSON lines written by a thread, to a file or standard output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from isthmus.config import ConfigError
from isthmus.config.model import AccessLogConfig, TelemetryConfig
from isthmus.telemetry import Telemetry
from isthmus.telemetry.access_log import AccessLog


def test_lines_are_json_and_all_written_by_close(tmp_path):
    path = tmp_path / "access.log"
    log = AccessLog.open(str(path))
    for i in range(1000):
        log.request(ts=1.5, request_id=f"r{i}", trace_id=None, transport="http", method="POST", path="/p",
                    route="m", variant="a", cache="miss", status=200, latency=0.0012345, client="127.0.0.1")  # fmt: skip
    log.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 1000 and lines[999]["request_id"] == "r999"
    assert lines[0] == {
        "ts": 1.5, "request_id": "r0", "trace_id": None, "transport": "http", "method": "POST", "path": "/p",
        "route": "m", "variant": "a", "cache": "miss", "status": 200, "latency_ms": 1.234, "client": "127.0.0.1",
    }  # fmt: skip
    log.write({"late": True})  # after close: dropped, no error
    assert len(path.read_text().splitlines()) == 1000


def test_a_file_is_appended_to(tmp_path):
    path = tmp_path / "access.log"
    path.write_text('{"old": 1}\n')
    log = AccessLog.open(str(path))
    log.write({"new": 2})
    log.close()
    assert path.read_text() == '{"old": 1}\n{"new":2}\n'


def test_dash_is_standard_output():
    code = (
        "from isthmus.telemetry.access_log import AccessLog\n"
        "log = AccessLog.open('-'); log.write({'a': 1}); log.write({'b': 2}); log.close()\n"
        "print('after close', flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out == '{"a":1}\n{"b":2}\nafter close\n'  # standard output stays open after close()


def test_a_log_that_cannot_be_opened_is_a_config_error_naming_the_field(tmp_path):
    config = TelemetryConfig(access_log=AccessLogConfig(enabled=True, path=str(tmp_path / "no" / "such" / "dir.log")))
    with pytest.raises(ConfigError) as err:
        Telemetry.from_config(config, "gw.yaml")
    (issue,) = err.value.issues
    assert issue.path == "telemetry.access_log.path" and issue.file == "gw.yaml"
    assert "cannot open the access log" in issue.reason


def test_a_stuck_writer_drops_lines_and_counts_them_instead_of_growing():
    import threading

    from isthmus.telemetry.access_log import AccessLog

    gate = threading.Event()

    class Stuck:
        def write(self, data):
            gate.wait(5)
            return len(data)

        def flush(self):
            pass

        def close(self):
            pass

    log = AccessLog(Stuck(), interval=0.0, max_queued=10)
    for i in range(100):
        log.write({"n": i})
    assert log.dropped >= 80  # at most the queue's 10 (+ the batch being written) were kept
    gate.set()
    log.close()
