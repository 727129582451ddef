"""Small pure parts: trace header pass-through, error kinds, backend span details."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from isthmus.backends import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable
from isthmus.codecs import CodecError
from isthmus.config import Config
from isthmus.gateway.error_table import error_kind
from isthmus.router import RoutingError, UnknownModel, UnknownVersion
from isthmus.telemetry.propagation import passthrough, trace_id_of
from isthmus.telemetry.tracing import backend_span

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_passthrough_keeps_both_headers_as_they_came():
    assert passthrough({"traceparent": TP}, TP) == {"traceparent": TP}
    assert passthrough({"traceparent": TP, "tracestate": "a=1"}, TP) == {"traceparent": TP, "tracestate": "a=1"}


@pytest.mark.parametrize(
    ("value", "trace_id"),
    [(TP, "4bf92f3577b34da6a3ce929d0e0e4736"), (None, None), ("garbage", None),
     ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None)],
)  # fmt: skip
def test_trace_id_of(value, trace_id):
    assert trace_id_of(value) == trace_id


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (BackendTimeout("a", "x"), "backend_timeout"),
        (BackendUnavailable("a", "x"), "backend_connect"),
        (BackendFailed("a", "x"), "backend_status"),
        (BackendRejected("a", "x", 400), "backend_rejected"),
        (CodecError("x"), "bad_request"),
        (UnknownModel("x"), "unknown_model"),
        (UnknownVersion("x"), "unknown_version"),
        (RoutingError("x"), "routing"),
        (KeyError("x"), "internal"),
    ],
)
def test_error_kinds(exc, kind):
    assert error_kind(exc) == kind


def test_backend_spans_follow_the_semantic_conventions_per_protocol(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    config = Config.model_validate({"backends": [
        {"name": "rest", "protocol": "kserve-v1", "endpoints": ["https://models.internal/base", "http://b:1"]},
        {"name": "ray", "protocol": "ray-serve", "endpoints": ["http://ray:8000"]},
        {"name": "tf", "protocol": "tfserving-grpc", "endpoints": ["tf:8500"]},
        {"name": "local", "protocol": "onnx", "model_path": str(tmp_path / "m.onnx")},
    ]})  # fmt: skip
    name, kind, attrs = backend_span(config.backend("rest"))
    assert (name, kind) == ("POST", SpanKind.CLIENT)
    assert attrs == {"isthmus.backend": "rest", "isthmus.backend.protocol": "kserve-v1",
                     "server.address": "models.internal", "http.request.method": "POST"}  # fmt: skip
    assert backend_span(config.backend("ray"))[2]["server.port"] == 8000
    name, kind, attrs = backend_span(config.backend("tf"))
    assert (name, kind) == ("tensorflow.serving.PredictionService/Predict", SpanKind.CLIENT)
    assert (attrs["server.address"], attrs["server.port"], attrs["rpc.system"]) == ("tf", 8500, "grpc")
    name, kind, attrs = backend_span(config.backend("local"))
    assert (name, kind) == ("onnxruntime infer", SpanKind.INTERNAL) and "server.address" not in attrs


@pytest.mark.parametrize(
    ("peer", "address"),
    [("ipv4:127.0.0.1:5000", "127.0.0.1"), ("ipv6:[::1]:5000", "::1"), ("unix:/run/gw.sock", "/run/gw.sock"),
     (None, None), ("", None)],
)  # fmt: skip
def test_grpc_peer_address(peer, address):
    from isthmus.gateway.request_telemetry import peer_address

    assert peer_address(peer) == address
