"""Telemetry through the gateway to real model servers (a real KServe that reports the trace headers
it received, the KServe and MLServer peers), exported to an in-process OTLP receiver."""

from __future__ import annotations

import random
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from isthmus.admin import GatewaySources, running_admin
from isthmus.gateway import GatewayServer
from isthmus.router.weighted import WeightedChoice
from tests.conftest import make_config, v2_body
from tests.integration.peers import kserve_peer, mlserver_peer, peers_dir  # noqa: F401
from tests.processes import free_port, start_process
from tests.telemetry.helpers import parse, requests_by, scraped
from tests.telemetry.otlp_receiver import GrpcReceiver, HttpReceiver

pytestmark = pytest.mark.peers

ECHO = Path(__file__).resolve().parents[1] / "telemetry" / "kserve_trace_echo.py"
APP_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
APP_SPAN = "00f067aa0ba902b7"
APP_PARENT = f"00-{APP_TRACE}-{APP_SPAN}-01"


@pytest.fixture(scope="module")
def echo_url(tmp_path_factory) -> Iterator[str]:
    """A real KServe server (the kserve peer's venv) whose model echoes traceparent/tracestate."""
    python = peers_dir() / "kserve" / "bin" / "python"
    assert python.exists(), f"{python} missing: make peers"
    port = free_port()
    argv = [str(python), str(ECHO), "--port", str(port), "--model", "echo"]
    with start_process(argv, name="kserve-echo", log_dir=tmp_path_factory.mktemp("echo"), foreign_python=True) as proc:
        url = f"http://127.0.0.1:{port}"
        proc.wait_for_url(f"{url}/v2/health/ready", timeout=120)
        yield url


@pytest.fixture(params=["grpc", "http"])
async def receiver(request) -> AsyncIterator[GrpcReceiver | HttpReceiver]:
    r = GrpcReceiver() if request.param == "grpc" else HttpReceiver()
    r.protocol = request.param  # type: ignore[attr-defined]
    await r.start()
    yield r
    await r.stop()


def echo_config(echo_url: str, telemetry: dict) -> dict:
    return {
        "telemetry": telemetry,
        "backends": [{"name": "kserve", "protocol": "kserve-v2", "model": "echo", "endpoints": [echo_url]}],
        "routes": [{"model": "m", "variants": [{"backend": "kserve", "weight": 1}]}],
    }


async def test_one_request_is_one_trace_and_the_real_backend_got_its_trace_id(echo_url, receiver, http):
    tracing = {"otlp_endpoint": receiver.endpoint, "protocol": receiver.protocol}
    server = GatewayServer(make_config(echo_config(echo_url, {"service_name": "gw", "tracing": tracing})))
    await server.start()
    try:
        headers = {"traceparent": APP_PARENT, "tracestate": "app=1"}
        async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.5]), headers=headers) as r:
            assert r.status == 200, await r.text()
            doc = await r.json()
    finally:
        await server.stop()  # flushes the spans to the receiver
    assert doc["outputs"][0]["data"] == [3.0]
    _, trace_id, parent_id, _ = doc["parameters"]["traceparent"].split("-")
    assert doc["parameters"]["tracestate"] == "app=1"

    spans = {s.name: s for s in receiver.spans()}
    assert set(spans) == {"POST /v2/models/{model}/infer", "route", "POST"}
    assert {s.trace_id.hex() for s in spans.values()} == {APP_TRACE} == {trace_id}
    ingress, route, call = spans["POST /v2/models/{model}/infer"], spans["route"], spans["POST"]
    assert ingress.parent_span_id.hex() == APP_SPAN
    assert route.parent_span_id == ingress.span_id and call.parent_span_id == ingress.span_id
    assert call.span_id.hex() == parent_id  # KServe's parent is the gateway's backend call
    attrs = {kv.key: kv.value for kv in call.attributes}
    assert attrs["server.port"].int_value == int(echo_url.rsplit(":", 1)[1])
    assert attrs["server.address"].string_value == "127.0.0.1"
    assert receiver.resources()[0]["service.name"] == "gw"


async def test_tracing_off_the_real_backend_gets_the_apps_traceparent_unchanged(echo_url, http):
    receiver = GrpcReceiver()
    await receiver.start()
    try:
        metrics = {"otlp_endpoint": receiver.endpoint, "export_interval": "1h"}
        server = GatewayServer(make_config(echo_config(echo_url, {"metrics": metrics})))
        await server.start()
        assert server.telemetry.tracer is None
        try:
            headers = {"traceparent": APP_PARENT, "tracestate": "app=1"}
            async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0]), headers=headers) as r:
                doc = await r.json()
            async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
                bare = await r.json()
        finally:
            await server.stop()  # pushes the metrics a last time
        assert doc["parameters"] == {"traceparent": APP_PARENT, "tracestate": "app=1"}
        assert bare["parameters"] == {"traceparent": "", "tracestate": ""}
        assert receiver.trace_requests == []  # no spans anywhere
        assert "isthmus.request.duration" in receiver.metric_names()
    finally:
        await receiver.stop()


async def test_metrics_match_exactly_per_variant_over_real_peers(kserve_peer, mlserver_peer, http):  # noqa: F811
    doc = {
        "backends": [
            {"name": "kserve", "protocol": "kserve-v2", "model": "double", "endpoints": [kserve_peer.url]},
            {"name": "mlserver", "protocol": "kserve-v2", "model": "double", "endpoints": [mlserver_peer.url]},
        ],
        "routes": [{"model": "m", "variants": [{"backend": "kserve", "weight": 90}, {"backend": "mlserver", "weight": 10}]}],
    }
    server = GatewayServer(make_config(doc), random=random.Random(2026).random)
    await server.start()
    answered = {"kserve": 0, "mlserver": 0}
    try:
        async with running_admin("127.0.0.1:0", GatewaySources(server, scrape=server.telemetry.scrape),
                                 required=True) as admin:  # fmt: skip
            for _ in range(200):
                async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
                    assert r.status == 200
                    out = (await r.json())["outputs"][0]["data"][0]
                    answered["kserve" if out == 2.0 else "mlserver"] += 1  # mlserver's model adds 100
            async with aiohttp.ClientSession() as s, s.get(f"{admin.url}/metrics") as r:
                assert r.status == 200
                over_http = parse(await r.text())
            direct = scraped(server.telemetry)
            pools = {k: v for (n, k), v in direct.items() if n == "isthmus_backend_connections"}
    finally:
        await server.stop()
    replay, choice, expected = random.Random(2026), WeightedChoice([90, 10]), {"kserve": 0, "mlserver": 0}
    for _ in range(200):
        expected[("kserve", "mlserver")[choice.pick(replay.random())]] += 1
    assert answered == expected
    for samples in (direct, over_http):
        assert requests_by(samples, "variant", model="m", status="200", transport="http") == expected
    assert {dict(k)["variant"] for k in pools} == {"kserve", "mlserver"}
    assert sum(v for k, v in pools.items() if dict(k)["state"] == "in_use") == 0


async def test_a_grpc_request_to_a_real_mlserver_over_grpc_is_one_trace(mlserver_peer):  # noqa: F811
    import grpc
    import numpy as np
    from tritonclient.grpc import service_pb2_grpc

    from isthmus.codecs import InferRequest, Tensor
    from isthmus.codecs import v2_grpc as codec

    receiver = GrpcReceiver()
    await receiver.start()
    doc = {
        "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0"},
        "telemetry": {"tracing": {"otlp_endpoint": receiver.endpoint}},
        "backends": [{"name": "ml", "protocol": "kserve-v2-grpc", "model": "double",
                      "endpoints": [f"grpc://127.0.0.1:{mlserver_peer.grpc_port}"]}],
        "routes": [{"model": "m", "variants": [{"backend": "ml", "weight": 1}]}],
    }  # fmt: skip
    server = GatewayServer(make_config(doc))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            t = Tensor("input-0", "FP32", np.array([[1.0, 2.0]], dtype=np.float32))
            reply = await stub.ModelInfer(
                codec.encode_request(InferRequest(), (t,), "m", raw=True), metadata=(("traceparent", APP_PARENT),)
            )
        assert codec.decode_response(reply, "gw").outputs[0].data.tolist() == [[102.0, 104.0]]
    finally:
        await server.stop()
        await receiver.stop()
    spans = receiver.spans()
    assert {s.trace_id.hex() for s in spans} == {APP_TRACE}
    (ingress,) = [s for s in spans if s.kind == s.SPAN_KIND_SERVER]
    (call,) = [s for s in spans if s.kind == s.SPAN_KIND_CLIENT]
    assert ingress.name == call.name == "inference.GRPCInferenceService/ModelInfer"
    assert ingress.parent_span_id.hex() == APP_SPAN and call.parent_span_id == ingress.span_id
    attrs = {kv.key: kv.value for kv in call.attributes}
    assert attrs["server.port"].int_value == mlserver_peer.grpc_port and attrs["rpc.system"].string_value == "grpc"
