"""HTTP backends send each try to the endpoint the upstream layer names, within the try's timeout,
and say what happened (sent or not, the backend's status, Retry-After, a full pool): against real
aiohttp servers, with the chaos proxy in front of them for connection faults."""

from __future__ import annotations

import asyncio
import socket
from email.utils import formatdate

import orjson
import pytest
from aiohttp import web

from isthmus.backends import (
    BackendFailed,
    BackendOverloaded,
    BackendTimeout,
    BackendUnavailable,
    CallContext,
    build_backend,
)
from isthmus.backends.http_transport import retry_after
from isthmus.codecs import v2
from isthmus.config import Config
from isthmus.deadline import app_deadline
from isthmus.loadtest.chaos_proxy import Chaos, ChaosProxy
from isthmus.upstream.outcome import Outcome, outcome_of
from tests.conftest import free_port, v2_body
from tests.servers import scripted
from tests.waiting import until

REQUEST = v2.decode_request(orjson.dumps(v2_body([1.0])))


def ctx(endpoint: int = -1, timeout: float | None = None) -> CallContext:
    return CallContext("public", "rid-1", endpoint=endpoint, timeout=timeout)


def backend(**doc):
    doc = {"name": "b", "protocol": "kserve-v2", **doc}
    return build_backend(Config.model_validate({"backends": [doc]}).backends[0])


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class Held:
    """A V2 server whose inference answers wait until ``release`` is set (``entered`` counts the
    requests that arrived); its readiness answers at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/models/{model}/infer", self.infer)
        app.router.add_get("/v2/health/ready", self.ready)
        return app

    async def ready(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def infer(self, request: web.Request) -> web.Response:
        self.entered += 1
        await self.release.wait()
        return web.json_response({"outputs": [{"name": "output-0", "datatype": "FP32", "shape": [1], "data": [2.0]}]})


async def test_a_try_goes_to_the_endpoint_it_names_and_only_there(serve_app):
    s1, s2 = scripted.Script("m"), scripted.Script("m")
    urls = [await serve_app(scripted.make_app(s1)), await serve_app(scripted.make_app(s2))]
    b = backend(endpoints=urls)
    try:
        for _ in range(3):
            await b.infer(REQUEST, ctx(1))
        assert (len(s1.calls), len(s2.calls)) == (0, 3)
        await b.infer(REQUEST, ctx(0))
        assert (len(s1.calls), len(s2.calls)) == (1, 3)
        assert b.endpoints == urls
    finally:
        await b.close()


async def test_a_refused_endpoint_is_not_sent_and_not_failed_over(serve_app):
    live = scripted.Script("m")
    b = backend(endpoints=[f"http://127.0.0.1:{free_port()}", await serve_app(scripted.make_app(live))])
    try:
        with pytest.raises(BackendUnavailable, match="cannot connect") as err:
            await b.infer(REQUEST, ctx(0))
        assert err.value.sent is False and outcome_of(err.value) is Outcome.CONNECT_FAILURE
        assert live.calls == []  # the upstream layer decides where a retry goes, not the transport
        await b.infer(REQUEST, ctx(-1))  # the backend's own rotation still fails over
        await b.infer(REQUEST, ctx(-1))
        assert len(live.calls) == 2
    finally:
        await b.close()


@pytest.fixture
async def proxied(serve_app):
    script = scripted.Script("m")
    url = await serve_app(scripted.make_app(script))
    async with ChaosProxy("127.0.0.1", port_of(url)) as proxy:
        yield script, proxy


async def test_through_the_chaos_proxy_refuse_is_unsent_and_reset_is_sent(proxied):
    script, proxy = proxied
    b = backend(endpoints=[proxy.url])
    try:
        await b.infer(REQUEST, ctx(0))  # a keep-alive connection is open when the faults start

        await proxy.set(Chaos("refuse"))
        with pytest.raises(BackendUnavailable) as err:
            await b.infer(REQUEST, ctx(0))
        assert err.value.sent is False and outcome_of(err.value) is Outcome.CONNECT_FAILURE
        assert len(script.calls) == 1

        await proxy.set(Chaos("reset", reset_after=20))  # the answer is cut after 20 bytes
        with pytest.raises(BackendUnavailable) as err:
            await b.infer(REQUEST, ctx(0))
        assert err.value.sent is True and err.value.status is None
        assert outcome_of(err.value) is Outcome.RESET
        assert len(script.calls) == 2  # the server did get it

        await proxy.set(Chaos())
        await b.infer(REQUEST, ctx(0))
        assert len(script.calls) == 3
    finally:
        await b.close()


@pytest.mark.parametrize("per_try", [0.3, 1.2])  # a precise timer below 1 s, the pool's 50 ms tick above
async def test_a_blackholed_endpoint_times_out_within_the_per_try_timeout(proxied, per_try):
    script, proxy = proxied
    await proxy.set(Chaos("blackhole"))
    b = backend(endpoints=[proxy.url], timeout="10s")
    loop = asyncio.get_running_loop()
    try:
        start = loop.time()
        with pytest.raises(BackendTimeout, match=f"within {per_try:g}s") as err:
            await b.infer(REQUEST, ctx(0, timeout=per_try))
        elapsed = loop.time() - start
        assert per_try <= elapsed < per_try + 0.5, elapsed
        assert outcome_of(err.value) is Outcome.TIMEOUT and script.calls == []
    finally:
        await b.close()


async def test_the_try_timeout_is_bounded_by_the_apps_deadline(proxied):
    _, proxy = proxied
    await proxy.set(Chaos("blackhole"))
    b = backend(endpoints=[proxy.url], timeout="10s")
    try:
        with app_deadline(0.2), pytest.raises(BackendTimeout, match="within 0.2s"):
            await b.infer(REQUEST, ctx(0, timeout=5.0))
    finally:
        await b.close()


@pytest.fixture
def silent_port():
    """A port whose accept queue is full: a connect to it neither succeeds nor is refused (the SYN is dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    probe = socket.socket()
    probe.settimeout(0.2)
    with pytest.raises(TimeoutError):  # the precondition: this kernel drops the SYN
        probe.connect(("127.0.0.1", port))
    probe.close()
    yield port
    for s in fillers:
        s.close()
    listener.close()


async def test_connect_timeout_comes_from_the_backend_config(silent_port):
    b = backend(endpoints=[f"http://127.0.0.1:{silent_port}"], timeout="10s", connect_timeout="250ms")
    loop = asyncio.get_running_loop()
    try:
        start = loop.time()
        with pytest.raises(BackendUnavailable, match="timed out after 0.25s") as err:
            await b.infer(REQUEST, ctx(0))
        assert loop.time() - start < 1.0
        assert err.value.sent is False
    finally:
        await b.close()


@pytest.mark.parametrize(
    "status, headers, wait",
    [
        (503, {"Retry-After": "3"}, 3.0),
        (429, {}, None),
        (408, {"Retry-After": "0"}, 0.0),
        (503, {"Retry-After": "soon"}, None),
    ],
)
async def test_busy_answers_are_unavailable_with_the_status_and_retry_after(serve_app, status, headers, wait):
    url = await serve_app(scripted.make_app(scripted.Script("m", status=status, body=b'{"error": "busy"}',
                                                            headers=headers)))  # fmt: skip
    b = backend(endpoints=[url])
    try:
        with pytest.raises(BackendUnavailable, match=f"HTTP {status}: busy") as err:
            await b.infer(REQUEST, ctx(0))
    finally:
        await b.close()
    assert (err.value.status, err.value.retry_after, err.value.sent) == (status, wait, True)
    assert outcome_of(err.value) is Outcome.GATEWAY_ERROR


@pytest.mark.parametrize("status, outcome", [(500, Outcome.ERROR_5XX), (502, Outcome.GATEWAY_ERROR), (504, Outcome.GATEWAY_ERROR)])
async def test_other_5xx_fail_with_the_upstream_status(serve_app, status, outcome):
    url = await serve_app(scripted.make_app(scripted.Script("m", status=status, body=b"oops")))
    b = backend(endpoints=[url])
    try:
        with pytest.raises(BackendFailed, match=f"HTTP {status}: oops") as err:
            await b.infer(REQUEST, ctx(0))
    finally:
        await b.close()
    assert err.value.upstream_status == status and outcome_of(err.value) is outcome


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_700_000_000.0
    assert retry_after({b"retry-after": b" 120 "}, lambda: now) == 120.0
    assert retry_after({b"retry-after": formatdate(now + 30, usegmt=True).encode()}, lambda: now) == 30.0
    assert retry_after({b"retry-after": formatdate(now - 30, usegmt=True).encode()}, lambda: now) == 0.0  # past
    assert retry_after({b"retry-after": b"Wed, 21 Oct 2015 07:28:00"}, lambda: now) is None  # no zone
    assert retry_after({b"retry-after": b"-5"}, lambda: now) is None
    assert retry_after({}, lambda: now) is None


@pytest.mark.parametrize("endpoint", [0, -1])
async def test_a_full_pool_is_overloaded_at_once_instead_of_waiting(serve_app, endpoint):
    held = Held()
    b = backend(endpoints=[await serve_app(held.app())], max_connections=1, circuit_breakers={"max_pending": 1})
    loop = asyncio.get_running_loop()
    try:
        first = asyncio.ensure_future(b.infer(REQUEST, ctx(endpoint)))
        await until(lambda: held.entered == 1, "the first call to hold the only connection")
        second = asyncio.ensure_future(b.infer(REQUEST, ctx(endpoint)))  # waits: max_pending 1
        await until(lambda: b.transport._pools[0].pending_requests == 1, "the second call to wait")
        start = loop.time()
        with pytest.raises(BackendOverloaded, match="max_pending") as err:
            await b.infer(REQUEST, ctx(endpoint))
        assert loop.time() - start < 1.0
        assert err.value.sent is False and outcome_of(err.value) is Outcome.LOCAL
        held.release.set()
        assert [r.v2_outputs[0]["data"] for r in await asyncio.gather(first, second)] == [[2.0], [2.0]]
    finally:
        held.release.set()
        await b.close()


async def test_a_closed_backend_is_unavailable_unsent(serve_app):
    b = backend(endpoints=[await serve_app(scripted.make_app(scripted.Script("m")))])
    await b.start()
    await b.close()
    with pytest.raises(BackendUnavailable, match="retired") as err:
        await b.infer(REQUEST, ctx(0))
    assert err.value.sent is False
