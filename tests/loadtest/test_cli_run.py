"""``isthmus loadtest run``: options, sanity errors, the summary and the JSON result, TLS."""

from __future__ import annotations

import argparse
import asyncio
import io
import ssl
import threading
from pathlib import Path
from typing import Iterator

import pytest
import trustme
from aiohttp import web

from isthmus.loadtest import schedule
from isthmus.loadtest.cli import main_run, options_from_args, register
from isthmus.loadtest.report_json import loads
from isthmus.loadtest.workers import LoadOptionsError


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register(p.add_subparsers())
    return p.parse_args(["loadtest", "run", *argv])


def parse_capacity(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register(p.add_subparsers())
    return p.parse_args(["loadtest", "capacity", *argv])


class ThreadServer:
    """An aiohttp server on its own loop in a thread (the CLI runs its own event loop)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, delay: float = 0.0) -> None:
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.ssl_context = ssl_context
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def handler(request: web.Request) -> web.Response:
            self.count += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.Response(text="{}", headers={"x-isthmus-backend": "v1"})

        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def cleanup() -> None:
            await self.runner.cleanup()
        asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[ThreadServer]:
    s = ThreadServer()
    yield s
    s.stop()


def test_profiles_from_args() -> None:
    assert options_from_args(parse("http://h", "--rate", "10", "--duration", "2s")).profile == schedule.constant(10, 2)
    assert options_from_args(parse("http://h", "--profile", "step", "--steps", "10:1s,20:500ms")).profile == \
        schedule.steps([(10, 1), (20, 0.5)])
    assert options_from_args(parse("http://h", "--profile", "ramp", "--rate-from", "5", "--rate", "50",
                                   "--duration", "1m")).profile == schedule.ramp(5, 50, 60)
    o = options_from_args(parse("https://h", "--rate", "1", "--shape", "2,3", "--datatype", "int64", "--header", "x-a: b",
                                "--protocol", "v1", "--timeout", "250ms", "--insecure"))
    assert (o.workload.shape, o.workload.datatype, o.workload.headers, o.timeout_s, o.insecure) == \
        ((2, 3), "INT64", (("x-a", "b"),), 0.25, True)


@pytest.mark.parametrize(("argv", "message"), [
    (("--rate", "0"), "above 0"),
    (("--rate", "1e9"), "sanity cap"),
    (("--rate", "10", "--duration", "2h"), "cap of 3600"),
    (("--rate", "10", "--connections", "0"), "connections"),
    (("--profile", "step"), "--steps"),
    (("--profile", "step", "--steps", "10"), "RATE:DURATION"),
    ((), "needs --rate"),
    (("--rate", "10", "--header", "nocolon"), "NAME:VALUE"),
    (("--rate", "10", "--protocol", "v2", "--datatype", "FP8"), "datatype"),
])
def test_sanity_checks(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        options_from_args(parse("http://127.0.0.1:1", *argv))


def test_bad_target_url() -> None:
    with pytest.raises(LoadOptionsError, match="http"):
        options_from_args(parse("ftp://127.0.0.1/", "--rate", "1"))


def test_run_prints_a_summary_and_writes_reports(server: ThreadServer, tmp_path: Path) -> None:
    out = io.StringIO()
    path, html = tmp_path / "run.json", tmp_path / "run.html"
    code = main_run(parse(f"http://127.0.0.1:{server.port}", "--rate", "100", "--duration", "1s", "--connections", "2",
                          "--json", str(path), "--html", str(html), "--weights", "v1=1"), out)
    assert code == 0 and server.count == 100
    report = loads(path.read_text())
    assert report["totals"]["intended"] == 100 and report["totals"]["ok"] == 100 and report["totals"]["errors"] == 0
    assert report["variants"][0]["name"] == "v1" and report["variants"][0]["count"] == 100
    assert report["split"]["consistent"] is True
    text = out.getvalue()
    assert "v1" in text and "p99" in text
    assert "data:image/png;base64," in html.read_text()


def test_capacity_finds_the_rate_limit_of_a_slow_server(tmp_path: Path) -> None:
    """A server that answers one request at a time in ~20 ms holds about 50/s on one connection."""
    s = ThreadServer(delay=0.02)
    try:
        out = io.StringIO()
        path = tmp_path / "cap.json"
        args = parse_capacity(f"http://127.0.0.1:{s.port}", "--slo", "p99=200ms", "--start-rate", "10",
                              "--max-rate", "400", "--trial-duration", "1s", "--connections", "1",
                              "--precision", "0.25", "--json", str(path), "--quiet")
        assert args.func(args, out) == 0
    finally:
        s.stop()
    cap = loads(path.read_text())["capacity"]
    assert 20 <= cap["capacity_rps"] <= 60, cap
    assert cap["binding"] in ("latency p99", "throughput")


def test_invalid_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_run(parse("http://127.0.0.1:1", "--rate", "-5"), io.StringIO()) == 2
    assert "isthmus loadtest:" in capsys.readouterr().err


def test_tls_with_cacert_and_insecure(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    s = ThreadServer(server_ctx)
    try:
        url = f"https://127.0.0.1:{s.port}"

        def totals(*extra: str) -> dict:
            out = tmp_path / "r.json"
            assert main_run(parse(url, "--rate", "50", "--duration", "0.2s", "--quiet", "--json", str(out), *extra),
                            io.StringIO()) == 0
            report = loads(out.read_text())
            return {"ok": report["totals"]["ok"], **report["errors"]}

        assert totals("--cacert", str(ca_file)) == {"ok": 10}
        assert totals("--insecure") == {"ok": 10}
        # the system CAs do not know trustme's CA: every request fails to connect
        assert totals("--timeout", "1s") == {"ok": 0, "connect": 10}
    finally:
        s.stop()
    assert s.count == 20


def test_progress_row_and_off_when_not_a_tty() -> None:
    from rich.console import Console

    from isthmus.loadtest.engine import Tick
    from isthmus.loadtest.progress import ProgressDisplay, render
    from isthmus.loadtest.results import Interval

    w = Interval(1.0, 100, 99)
    for v in range(1000, 2000, 10):
        w.latency.record_value(v)
    profile = schedule.constant(100, 10)
    console = Console(file=io.StringIO(), width=200)
    console.print(render(Tick(2.0, 200, 200, 199, {"timeout": 1}, w), profile, Tick(1.0, 100, 100, 100, {}, None)))
    row = console.file.getvalue()
    assert "2s / 10s" in row and "timeout 1" in row and "1.49 ms" in row and "1.98 ms" in row
    assert not ProgressDisplay(profile, file=io.StringIO()).enabled
