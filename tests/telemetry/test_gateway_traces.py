"""Traces through a running gateway (HTTP ingress, fake backends, spans kept in memory), and the
trace headers the backend receives with tracing on and off."""

from __future__ import annotations

from opentelemetry.trace import SpanKind, StatusCode

from isthmus.backends import BackendFailed
from isthmus.backends.fake import FakeBackend
from isthmus.gateway import DataPlane
from tests.conftest import v2_body
from tests.telemetry.helpers import plain_telemetry, traced_telemetry

APP_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
APP_PARENT = f"00-{APP_TRACE}-00f067aa0ba902b7-01"
DOC = {
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 3}, {"backend": "b", "weight": 1}]}],
    "backends": [
        {"name": "a", "protocol": "kserve-v2", "endpoints": ["http://10.0.0.7:8080"]},
        {"name": "b", "protocol": "kserve-v2-grpc", "endpoints": ["http://10.0.0.8:8081"]},
    ],
}



def by_name(spans) -> dict:
    return {s.name: s for s in spans}


async def test_one_request_is_one_trace_continuing_the_apps(started, http):
    telemetry, exported = traced_telemetry()
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    server = await started(DOC, fakes, telemetry=telemetry)
    assert server.dataplane.traced
    headers = {"traceparent": APP_PARENT, "tracestate": "vendor=1", "x-request-id": "rid-1"}
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0]), headers=headers) as r:
        assert r.status == 200
    spans = by_name(exported.get_finished_spans())
    assert set(spans) == {"POST /v2/models/{model}/infer", "route", "POST"}
    ingress, route, call = spans["POST /v2/models/{model}/infer"], spans["route"], spans["POST"]
    assert {format(s.context.trace_id, "032x") for s in spans.values()} == {APP_TRACE}
    assert ingress.kind == SpanKind.SERVER and ingress.parent.span_id == 0x00F067AA0BA902B7
    assert route.parent.span_id == ingress.context.span_id
    assert call.parent.span_id == ingress.context.span_id and call.kind == SpanKind.CLIENT
    assert ingress.attributes["http.response.status_code"] == 200
    assert ingress.attributes["http.route"] == "/v2/models/{model}/infer"
    assert ingress.attributes["isthmus.request_id"] == "rid-1"
    assert dict(route.attributes) == {
        "isthmus.route": "m", "isthmus.variant": "a", "isthmus.variant.weight": 3, "isthmus.route.reason": "weighted"
    }  # fmt: skip
    assert call.attributes["server.address"] == "10.0.0.7" and call.attributes["server.port"] == 8080
    assert call.attributes["http.request.method"] == "POST"
    # the backend got the gateway's client span as its parent, in the app's trace, with the app's tracestate
    ctx = fakes["a"].calls[0][1]
    assert ctx.headers["traceparent"] == f"00-{APP_TRACE}-{call.context.span_id:016x}-01"
    assert ctx.headers["tracestate"] == "vendor=1"


async def test_a_new_trace_starts_without_traceparent_and_errors_end_the_ingress_span(started, http):
    telemetry, exported = traced_telemetry()
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    server = await started(DOC, fakes, telemetry=telemetry)
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 200
    async with http.post(f"{server.url}/v2/models/m/versions/x/infer", json=v2_body([1.0])) as r:
        assert r.status == 404  # unknown version: the ingress span says so, no backend span
    spans = exported.get_finished_spans()
    names = [s.name for s in spans]
    assert names.count("POST /v2/models/{model}/infer") == 2 and names.count("route") == 2
    ingress = [s for s in spans if s.kind == SpanKind.SERVER]
    assert ingress[0].parent is None and ingress[0].context.trace_id != ingress[1].context.trace_id
    assert ingress[1].attributes["http.response.status_code"] == 404
    assert names.count("POST") == 1  # the unknown version never reached a backend


async def test_grpc_backend_span(started, http):
    telemetry, exported = traced_telemetry()
    doc = {**DOC, "routes": [{**DOC["routes"][0], "override_header": "x-variant"}]}
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    server = await started(doc, fakes, telemetry=telemetry)
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0]), headers={"x-variant": "b"}) as r:
        assert r.status == 200
    spans = by_name(exported.get_finished_spans())
    call = spans["inference.GRPCInferenceService/ModelInfer"]
    assert call.kind == SpanKind.CLIENT
    assert {k: call.attributes[k] for k in ("rpc.system", "rpc.service", "rpc.method", "server.address")} == {
        "rpc.system": "grpc", "rpc.service": "inference.GRPCInferenceService", "rpc.method": "ModelInfer",
        "server.address": "10.0.0.8",
    }  # fmt: skip
    assert spans["route"].attributes["isthmus.route.reason"] == "override"
    _, trace_id, parent, flags = fakes["b"].calls[0][1].headers["traceparent"].split("-")
    assert (trace_id, parent) == (f"{call.context.trace_id:032x}", f"{call.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled


async def test_cache_and_fallback_spans(started, http):
    telemetry, exported = traced_telemetry()
    doc = {**DOC, "routes": [{**DOC["routes"][0], "fallback": "b", "cache": {"enabled": True}}]}
    fakes = {"a": FakeBackend("a", error=BackendFailed("a", "down")), "b": FakeBackend("b")}
    server = await started(doc, fakes, telemetry=telemetry)
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 200 and r.headers["x-isthmus-backend"] == "b"
    spans = exported.get_finished_spans()
    names = sorted(s.name for s in spans)
    assert names == sorted([
        "POST /v2/models/{model}/infer", "route", "cache lookup", "cache lookup", "coalesce", "POST",
        "fallback", "inference.GRPCInferenceService/ModelInfer",
    ])  # fmt: skip
    named = {s.name: s for s in spans}
    failed = named["POST"]
    assert failed.status.status_code == StatusCode.ERROR  # the failed call records its exception
    assert named["coalesce"].attributes["isthmus.cache.coalesced"] is False
    assert named["inference.GRPCInferenceService/ModelInfer"].parent.span_id == named["fallback"].context.span_id
    exported.clear()

    fakes["a"].error = None
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([2.0])) as r:
        assert r.status == 200 and r.headers["x-isthmus-backend"] == "a"
    named = {s.name: s for s in exported.get_finished_spans()}
    assert named["cache store"].parent.span_id == named["coalesce"].context.span_id
    assert named["cache store"].attributes["isthmus.cache.stored"] is True
    exported.clear()

    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([2.0])) as r:
        assert r.headers["x-isthmus-cache"] == "hit"
    names = [s.name for s in exported.get_finished_spans()]
    assert sorted(names) == sorted(["POST /v2/models/{model}/infer", "route", "cache lookup"])


async def test_a_trace_sampled_out_makes_no_span_but_still_reaches_the_backend(started, http):
    telemetry, exported = traced_telemetry(sample_ratio=0.0)
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    server = await started(DOC, fakes, telemetry=telemetry)
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 200
    assert exported.get_finished_spans() == ()
    _, trace_id, _, flags = fakes["a"].calls[0][1].headers["traceparent"].split("-")
    assert len(trace_id) == 32 and not int(flags, 16) & 1  # a trace id, not sampled


async def test_tracing_off_forwards_the_apps_trace_headers_unchanged(started, http):
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    server = await started(DOC, fakes, telemetry=plain_telemetry())
    assert type(server.dataplane) is DataPlane and server.telemetry.tracer is None
    headers = {"traceparent": APP_PARENT, "tracestate": "vendor=1"}
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0]), headers=headers) as r:
        assert r.status == 200
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0])) as r:
        assert r.status == 200
    assert dict(fakes["a"].calls[0][1].headers) == {"traceparent": APP_PARENT, "tracestate": "vendor=1"}
    assert dict(fakes["a"].calls[1][1].headers) == {}
