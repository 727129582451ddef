"""CPU cost of the telemetry on the request path (a micro-benchmark, not a test).

Runs the REST Edge in-process (no sockets) over a fake backend, and measures CPU time per request
(process time, so the exporter threads count too) for:

  baseline      the Edge with its duration measurement replaced by a no-op
  metrics       the default: one histogram measurement per request (Prometheus reader)
  metrics+otlp  the same with an OTLP metric reader too (a second aggregation per measurement)
  access-log    metrics plus one JSON access-log line (to /dev/null) per request
  tracing       metrics plus spans (BatchSpanProcessor, an exporter that drops them)
  tracing-0%    tracing on with sample_ratio 0: no span recorded, trace context still propagated
  passthrough   metrics, tracing off, the app sends traceparent+tracestate (forwarded as they came)

Rounds alternate between configurations and the median per configuration is reported.

    .venv/bin/python -m bench.telemetry_cost [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Callable, Sequence

import orjson
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from isthmus.backends.fake import FakeBackend
from isthmus.config import Config
from isthmus.config.model import TracingConfig
from isthmus.gateway import DataPlane, GatewayState
from isthmus.gateway.http_types import Headers, Request
from isthmus.gateway.middleware import Edge
from isthmus.telemetry import Telemetry
from isthmus.telemetry.access_log import AccessLog
from isthmus.telemetry.metrics import Metrics
from isthmus.telemetry.tracing import Tracing

CONFIG = Config.model_validate({
    "backends": [{"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]},
                 {"name": "b", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:1"]}],
    "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 90}, {"backend": "b", "weight": 10}]}],
})  # fmt: skip
BODY = orjson.dumps({"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]})
TRACE = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "app=1"}


class _DropSpans(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


class _DropMetrics(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs):  # type: ignore[no-untyped-def]
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:  # type: ignore[no-untyped-def]
        pass


def _telemetry(kind: str) -> Telemetry:
    resource = Resource({"service.name": "bench"})
    if kind == "metrics+otlp":
        reader = PeriodicExportingMetricReader(_DropMetrics(), export_interval_millis=3_600_000)
        return Telemetry(Metrics(resource, readers=[reader]))
    if kind == "access-log":
        return Telemetry(Metrics(resource), access_log=AccessLog.open("/dev/null"))
    if kind.startswith("tracing"):
        ratio = 0.0 if kind == "tracing-0%" else 1.0
        processor = BatchSpanProcessor(_DropSpans(), max_queue_size=1 << 16)
        tracing = Tracing(TracingConfig(sample_ratio=ratio), resource, processor=processor)
        return Telemetry(Metrics(resource), tracing)
    return Telemetry(Metrics(resource))


async def _run(kind: str, n: int, rnd: Callable[[], float]) -> float:
    telemetry = _telemetry(kind)
    fakes = {"a": FakeBackend("a"), "b": FakeBackend("b")}
    state = GatewayState.build(CONFIG, fakes, "1", "bench")
    edge = Edge(DataPlane(state, rnd, telemetry=telemetry), telemetry)  # traces its steps when telemetry traces
    if kind == "baseline":
        edge._done = lambda *args: None  # type: ignore[method-assign]
    headers = Headers({"content-type": "application/json", **(TRACE if kind == "passthrough" else {})})
    path = "/v2/models/m/infer"
    for _ in range(200):  # warm up (memoised URL, attribute dicts)
        await edge(Request("POST", path, Headers(headers), BODY))
    start = time.process_time()
    for _ in range(n):
        response = await edge(Request("POST", path, Headers(headers), BODY))
    cpu = time.process_time() - start
    assert response.status == 200
    await telemetry.aclose()
    return cpu / n * 1e6


KINDS = ("baseline", "metrics", "metrics+otlp", "access-log", "tracing", "tracing-0%", "passthrough")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    import random

    rnd = random.Random(1).random
    results: dict[str, list[float]] = {k: [] for k in KINDS}
    for _ in range(args.rounds):
        for kind in KINDS:
            results[kind].append(asyncio.run(_run(kind, args.requests, rnd)))
    base = statistics.median(results["baseline"])
    print(f"{'configuration':<14} {'CPU µs/request':>15} {'over baseline':>14}   (median of {args.rounds} rounds)")
    for kind in KINDS:
        med = statistics.median(results[kind])
        print(f"{kind:<14} {med:>15.1f} {med - base:>+14.1f}")
    m = Metrics(Resource({}))
    n = 100_000
    start = time.process_time()
    for _ in range(n):
        m.request_done("m", "a", "200", "http", "miss", 0.001)
    print(f"Metrics.request_done alone: {(time.process_time() - start) / n * 1e6:.1f} µs")
    m.close()


if __name__ == "__main__":
    main()
