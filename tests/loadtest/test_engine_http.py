"""The engine against local servers: exact counts, per-variant latency, and errors by kind (never in latency)."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from isthmus.loadtest import schedule
from isthmus.loadtest.results import RunResult
from isthmus.loadtest.workers import LoadOptions, run_load

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for r in runners:
        await r.cleanup()


def no_latency(result: RunResult) -> bool:
    return result.latency.get_total_count() == 0 and result.service_time.get_total_count() == 0 and not result.variants


async def test_exact_counts_variants_and_intervals(serve: Serve) -> None:
    seen: list[tuple[str, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.path, body))
        variant = "blue" if len(seen) % 4 else "green"
        return web.json_response({"outputs": []}, headers={"x-isthmus-backend": variant})

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(200, 1.5), connections=4))
    assert (result.intended, result.sent, result.ok, sum(result.errors.values())) == (300, 300, 300, 0)
    assert len(seen) == 300 and all(path == "/v2/models/model/infer" for path, _ in seen)
    assert result.latency.get_total_count() == 300 == result.service_time.get_total_count()
    assert result.variant_counts == Counter({"blue": 225, "green": 75})
    assert {k: h.get_total_count() for k, h in result.variants.items()} == {"blue": 225, "green": 75}
    assert [(iv.start_s, iv.sent, iv.ok) for iv in result.intervals] == [(0.0, 200, 200), (1.0, 100, 100)]
    assert result.duration_s == 1.5 and result.achieved_rate == pytest.approx(200)
    # latency is measured from the intended time, so it is never below the service time
    assert result.latency.get_value_at_percentile(50) >= result.service_time.get_value_at_percentile(50) * 0.9


async def test_max_requests_stops_first(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="{}")

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(400, 30), connections=2, max_requests=50))
    assert (result.intended, result.ok) == (50, 50)
    assert result.duration_s == pytest.approx(0.125)


async def test_url_path_and_headers_are_sent(serve: Serve) -> None:
    got: list[tuple[str, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        got.append((request.path, request.headers.get("x-user-id")))
        return web.Response(text="{}")

    url = await serve(handler)
    from isthmus.loadtest.workload import WorkloadSpec

    spec = WorkloadSpec(protocol="ray", users=2)
    await run_load(LoadOptions(url + "/score", schedule.constant(100, 0.2), connections=1, workload=spec))
    assert len(got) == 20 and {p for p, _ in got} == {"/score"} and {u for _, u in got} <= {"user-0", "user-1"}


async def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = await run_load(LoadOptions(f"http://127.0.0.1:{port}", schedule.constant(50, 0.4), connections=2))
    assert result.intended == 20 and result.errors == Counter({"connect": 20}) and result.ok == 0
    assert no_latency(result)
    assert sum(iv.errors["connect"] for iv in result.intervals) == 20


async def test_503_is_counted_by_status(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy", headers={"x-isthmus-backend": "v1"})

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(100, 0.3), connections=2))
    assert result.errors == Counter({"http_503": 30}) and result.ok == 0
    assert no_latency(result) and not result.variant_counts


async def test_a_server_that_never_answers_times_out(serve: Serve) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="{}")

    url = await serve(handler)
    try:
        result = await run_load(LoadOptions(url, schedule.constant(20, 0.5), connections=2, timeout_s=0.3))
    finally:
        release.set()
    assert result.intended == 10 and result.ok == 0
    assert result.errors == Counter({"timeout": 10})
    assert no_latency(result)


async def test_a_garbled_response_is_a_protocol_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HELLO THERE\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run_load(LoadOptions(f"http://127.0.0.1:{port}", schedule.constant(50, 0.2), connections=1))
    assert result.errors == Counter({"protocol": 10}) and no_latency(result)


async def test_server_closing_each_connection_is_fine(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="{}", headers={"connection": "close"})

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(100, 0.5), connections=2))
    assert (result.ok, sum(result.errors.values())) == (50, 0)
