"""Sampling is decided before any span exists: the app's flag, else the ratio; ids for unsampled traces."""

from __future__ import annotations

import random

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from isthmus.backends.fake import FakeBackend
from isthmus.config.model import TracingConfig
from isthmus.telemetry import Telemetry
from isthmus.telemetry.metrics import Metrics
from isthmus.telemetry.propagation import sampled_flag
from isthmus.telemetry.tracing import Tracing
from tests.conftest import v2_body
from tests.telemetry.test_gateway_traces import APP_TRACE, DOC

SAMPLED = f"00-{APP_TRACE}-00f067aa0ba902b7-01"
NOT_SAMPLED = f"00-{APP_TRACE}-00f067aa0ba902b7-00"


def tracing(ratio: float, seed: int = 7) -> Tracing:
    config = TracingConfig(otlp_endpoint="http://127.0.0.1:4317", sample_ratio=ratio)
    return Tracing(config, Resource({}), SimpleSpanProcessor(InMemorySpanExporter()), rng=random.Random(seed))


@pytest.mark.parametrize(
    "value, flag",
    [
        (SAMPLED, True),
        (NOT_SAMPLED, False),
        (f"01-{APP_TRACE}-00f067aa0ba902b7-03-future", True),  # a later version may add fields
        (f"ff-{APP_TRACE}-00f067aa0ba902b7-01", None),  # version ff is invalid
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),  # all-zero trace id
        (f"00-{APP_TRACE}-{'0' * 16}-01", None),  # all-zero parent id
        (f"00-{APP_TRACE[:-1]}x-00f067aa0ba902b7-01", None),  # not hex
        ("garbage", None),
        (f"00-{APP_TRACE.upper()}-00f067aa0ba902b7-01", None),  # upper-case hex is invalid
        (f"00-{APP_TRACE[:-2]}_1-00f067aa0ba902b7-01", None),  # what int(x, 16) would accept
        (f"00-{APP_TRACE}-00f067aa0ba902b7-01-extra", None),  # version 00 has nothing after the flags
    ],
)
def test_sampled_flag(value, flag):
    assert sampled_flag(value) is flag


def test_the_apps_flag_decides_whatever_the_ratio():
    assert tracing(0.0).sampled({"traceparent": SAMPLED}) is True
    headers = {"traceparent": NOT_SAMPLED}
    assert tracing(1.0).sampled(headers) is False
    assert headers == {"traceparent": NOT_SAMPLED}  # forwarded as it came


def test_new_traces_are_sampled_at_the_ratio_and_the_others_get_an_unsampled_traceparent():
    t = tracing(0.25)
    decisions = []
    for _ in range(4000):
        headers: dict[str, str] = {"traceparent": "garbage"} if len(decisions) % 2 else {}
        decisions.append(t.sampled(headers))
        if not decisions[-1]:
            assert sampled_flag(headers["traceparent"]) is False  # a valid id, flag clear
    share = sum(decisions) / len(decisions)
    assert abs(share - 0.25) < 4 * (0.25 * 0.75 / 4000) ** 0.5


async def test_an_unsampled_app_trace_makes_no_span_and_reaches_the_backend_unchanged(started, http):
    exporter = InMemorySpanExporter()
    config = TracingConfig(otlp_endpoint="http://127.0.0.1:4317", sample_ratio=1.0)
    traced = Tracing(config, Resource({}), SimpleSpanProcessor(exporter))
    telemetry = Telemetry(Metrics(Resource({}), prometheus=False), traced)
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    server = await started(DOC, fakes, telemetry=telemetry)
    headers = {"traceparent": NOT_SAMPLED, "tracestate": "vendor=1"}
    async with http.post(f"{server.url}/v2/models/m/infer", json=v2_body([1.0]), headers=headers) as r:
        assert r.status == 200
    assert exporter.get_finished_spans() == ()
    assert dict(fakes["a"].calls[0][1].headers) == headers
