"""Active health checks (``probe``) of every remote backend kind, in its own protocol, against real
servers: aiohttp servers and the TF Serving stand-ins here, the real peers in
tests/integration/test_backend_probes_peers.py. A probe answers True or False, never raises."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from isthmus.backends import RemoteBackend, build_backend
from isthmus.config import Config
from isthmus.loadtest.chaos_proxy import Chaos, ChaosProxy
from tests.backends.test_endpoints import REQUEST, Held, ctx, port_of
from tests.conftest import free_port
from tests.servers import counting, scripted, tfserving_rest
from tests.servers.tfserving_grpc import Model, start_server
from tests.waiting import until


def backend(**doc):
    doc = {"name": "b", **doc}
    return build_backend(Config.model_validate({"backends": [doc]}).backends[0])


async def probe_each(doc: dict, model: str = "m", timeout: float = 2.0) -> list[bool]:
    """The probe of each of ``doc``'s endpoints, by a started backend."""
    b = backend(**doc)
    await b.start()
    try:
        return [await b.probe(i, model, timeout) for i in range(len(doc["endpoints"]))]
    finally:
        await b.close()


async def probed(doc: dict, model: str = "m", timeout: float = 2.0, endpoint: int = 0) -> bool:
    b = backend(**doc)
    try:
        assert isinstance(b, RemoteBackend) and b.endpoints == doc["endpoints"]
        return await b.probe(endpoint, model, timeout)
    finally:
        await b.close()


async def test_kserve_v2_probes_server_readiness(serve_app):
    url = await serve_app(counting.make_app(counting.Counting()))
    assert await probed({"protocol": "kserve-v2", "endpoints": [url]})
    down = await serve_app(scripted.make_app(scripted.Script("m", status=503)))
    assert not await probed({"protocol": "kserve-v2", "endpoints": [down]})
    assert not await probed({"protocol": "kserve-v2", "endpoints": [f"http://127.0.0.1:{free_port()}"]})


async def test_probes_go_to_the_endpoint_named(serve_app):
    up, down = scripted.Script("m"), scripted.Script("m", status=500)
    urls = [await serve_app(scripted.make_app(up)), await serve_app(scripted.make_app(down))]
    b = backend(protocol="kserve-v2", endpoints=urls)
    try:
        assert await b.probe(0, "m", 2.0) and not await b.probe(1, "m", 2.0)
    finally:
        await b.close()
    assert up.calls == ["GET /v2/health/ready"] and down.calls == ["GET /v2/health/ready"]


async def test_a_configured_health_check_path_is_used_with_the_backends_model_name(serve_app):
    s = scripted.Script("m")
    url = await serve_app(scripted.make_app(s))
    for protocol in ("kserve-v2", "kserve-v1", "tfserving", "ray-serve"):
        assert await probed({"protocol": protocol, "endpoints": [url], "model": "remote",
                             "health_check": {"path": "/healthz/{model}"}}, model="public")  # fmt: skip
    assert s.calls == ["GET /healthz/remote"] * 4


async def test_kserve_v1_probes_the_models_status(serve_app):
    ready = await serve_app(scripted.make_app(scripted.Script("m", body=b'{"name": "m", "ready": true}')))
    unready = await serve_app(scripted.make_app(scripted.Script("m", body=b'{"name": "m", "ready": false}')))
    missing = await serve_app(scripted.make_app(scripted.Script("m", status=404, body=b'{"error": "no model"}')))
    s = scripted.Script("m", body=b'{"name": "m", "ready": true}')
    assert await probed({"protocol": "kserve-v1", "endpoints": [await serve_app(scripted.make_app(s))]}, model="fraud")
    assert s.calls == ["GET /v1/models/fraud"]
    assert await probed({"protocol": "kserve-v1", "endpoints": [ready]})
    assert not await probed({"protocol": "kserve-v1", "endpoints": [unready]})
    assert not await probed({"protocol": "kserve-v1", "endpoints": [missing]})


async def test_tfserving_rest_probes_the_model_version_status(serve_app):
    url = await serve_app(tfserving_rest.make_app("half_plus"))
    assert await probed({"protocol": "tfserving", "endpoints": [url]}, model="half_plus")
    assert await probed({"protocol": "tfserving", "endpoints": [url], "version": "1"}, model="half_plus")
    assert not await probed({"protocol": "tfserving", "endpoints": [url], "version": "7"}, model="half_plus")
    assert not await probed({"protocol": "tfserving", "endpoints": [url]}, model="other")


async def test_ray_serve_probes_the_proxys_healthz(serve_app):
    s = scripted.Script("m", body=b"success")
    assert await probed({"protocol": "ray-serve", "endpoints": [await serve_app(scripted.make_app(s))]})
    assert s.calls == ["GET /-/healthz"]
    sick = await serve_app(scripted.make_app(scripted.Script("m", status=503, body=b"unhealthy")))
    assert not await probed({"protocol": "ray-serve", "endpoints": [sick]})


@pytest.mark.parametrize(
    "ready_path, status, passed, path",
    [
        ("/ready/{model}", 200, True, "GET /ready/remote"),
        ("/ready/{model}", 404, False, "GET /ready/remote"),
        (None, 405, True, "GET /score/remote"),  # any answer below 500 to GET path: the server is up
        (None, 500, False, "GET /score/remote"),
    ],
)
async def test_http_json_probes_its_ready_path_or_its_path(serve_app, ready_path, status, passed, path):
    s = scripted.Script("m", status=status, body=b"{}")
    doc = {"protocol": "http-json", "endpoints": [await serve_app(scripted.make_app(s))], "path": "/score/{model}",
           "model": "remote"}
    if ready_path:
        doc["ready_path"] = ready_path
    assert await probed(doc) is passed
    assert s.calls == [path]


async def test_a_probe_never_waits_behind_a_full_pool(serve_app):
    """Probes have a connection of their own (as Envoy's health checks do): the only traffic
    connection held by a slow call does not make a healthy endpoint fail its check."""
    held = Held()
    b = backend(protocol="kserve-v2", endpoints=[await serve_app(held.app())], max_connections=1)
    try:
        call = asyncio.ensure_future(b.infer(REQUEST, ctx(0)))
        await until(lambda: held.entered == 1, "the call to hold the only connection")
        assert await b.probe(0, "m", 2.0) is True
        assert not call.done()
        held.release.set()
        await call
    finally:
        held.release.set()
        await b.close()


async def test_a_probe_of_a_blackholed_endpoint_fails_within_its_timeout(serve_app):
    url = await serve_app(counting.make_app(counting.Counting()))
    async with ChaosProxy("127.0.0.1", port_of(url), chaos=Chaos("blackhole")) as proxy:
        b = backend(protocol="kserve-v2", endpoints=[proxy.url])
        loop = asyncio.get_running_loop()
        try:
            start = loop.time()
            assert await b.probe(0, "m", 0.3) is False
            assert loop.time() - start < 1.0
            await proxy.set(Chaos())
            assert await b.probe(0, "m", 2.0) is True  # a new connection once the path clears
        finally:
            await b.close()


async def test_a_closed_backend_probes_false(serve_app):
    b = backend(protocol="kserve-v2", endpoints=[await serve_app(counting.make_app(counting.Counting()))])
    await b.start()
    await b.close()
    assert await b.probe(0, "m", 1.0) is False


# gRPC backends


@pytest.fixture
async def tfs_target():
    server, port = await start_server(Model("half_plus", offset=0.5))
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_tfserving_grpc_probes_get_model_status(tfs_target):
    doc = {"protocol": "tfserving-grpc", "endpoints": [f"grpc://127.0.0.1:{free_port()}", tfs_target]}
    b = backend(**doc)
    await b.start()
    try:
        assert await b.probe(1, "half_plus", 2.0)
        assert not await b.probe(1, "other", 2.0)
        assert not await b.probe(0, "half_plus", 2.0)  # nothing listens there
    finally:
        await b.close()
    assert not await b.probe(1, "half_plus", 2.0)  # closed: False, not an exception


class ReadyOnly(service_pb2_grpc.GRPCInferenceServiceServicer):
    """A V2 gRPC server without grpc.health.v1: only ServerReady, answering ``ready``."""

    def __init__(self, ready: bool):
        self.ready = ready
        self.asked = 0

    async def ServerReady(self, request, context):
        self.asked += 1
        return service_pb2.ServerReadyResponse(ready=self.ready)


@pytest.fixture
async def ready_only():
    servers = []

    async def start(ready: bool) -> tuple[ReadyOnly, str]:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        servicer = ReadyOnly(ready)
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return servicer, f"grpc://127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(None)


async def test_kserve_v2_grpc_falls_back_to_server_ready_without_a_health_service(ready_only):
    up, up_target = await ready_only(True)
    down, down_target = await ready_only(False)
    assert await probe_each({"protocol": "kserve-v2-grpc", "endpoints": [up_target, down_target]}) == [True, False]
    assert (up.asked, down.asked) == (1, 1)


async def test_kserve_v2_grpc_probes_grpc_health(gateway):
    """Isthmus's own gRPC listener serves grpc.health.v1 (SERVING once it has a config)."""
    from tests.grpc.conftest import grpc_config

    gw = await gateway(grpc_config(["a"]))
    endpoints = [f"grpc://{gw.grpc_target}", f"grpc://127.0.0.1:{free_port()}"]
    assert await probe_each({"protocol": "kserve-v2-grpc", "endpoints": endpoints}, timeout=1.0) == [True, False]


async def test_every_remote_backend_kind_is_a_remote_backend():
    for protocol, endpoint in [("kserve-v1", "http://h:1"), ("kserve-v2", "http://h:1"), ("tfserving", "http://h:1"),
                               ("ray-serve", "http://h:1"), ("kserve-v2-grpc", "grpc://h:1"),
                               ("tfserving-grpc", "grpc://h:1")]:  # fmt: skip
        b = backend(protocol=protocol, endpoints=[endpoint])
        assert isinstance(b, RemoteBackend), protocol
        assert list(b.endpoints) == [endpoint]
    hj = backend(protocol="http-json", endpoints=["http://h:1"], path="/p")
    assert isinstance(hj, RemoteBackend)
