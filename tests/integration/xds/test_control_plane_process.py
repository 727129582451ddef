"""``python -m isthmus.xds.cli control-plane`` as a real process: it serves, reports its status, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import urllib.request

from tests.processes import start_process
from tests.xds.helpers import doc, write


def test_cli_subcommand_serves_and_stops(tmp_path):
    write(tmp_path / "default.yaml", doc())
    argv = [sys.executable, "-m", "isthmus.xds.cli", "control-plane", "--config-dir", str(tmp_path), "--port", "0",
            "--status-port", "0"]  # fmt: skip
    with start_process(argv, name="control-plane", log_dir=tmp_path / "logs") as proc:
        m = proc.wait_for_line(r"xDS on 127.0.0.1:(\d+), status on (http://\S+)")
        status = json.load(urllib.request.urlopen(m.group(2), timeout=5))
        assert status["files"]["default"]["valid"] and "default" in status["groups"]
        proc.signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.describe()
