"""The Telemetry object: built once from ``TelemetryConfig``, passed down, closed on stop.

It owns the metrics (always: Prometheus through :meth:`scrape`, OTLP push when configured), the
tracer (only when an OTLP traces endpoint is configured, else ``tracer is None``), the access
log (when enabled) and the rate-limited warnings for degraded dependencies. Nothing here is
global: several gateways in one process each have their own providers and registry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from opentelemetry.sdk.metrics import TraceBasedExemplarFilter
from opentelemetry.sdk.resources import Resource

from isthmus import __version__
from isthmus.config.errors import ConfigError, ConfigIssue
from isthmus.config.model import TelemetryConfig
from isthmus.telemetry.access_log import AccessLog
from isthmus.telemetry.metrics import Metrics, Source
from isthmus.telemetry.steps import StepSpans
from isthmus.telemetry.tracing import Tracing
from isthmus.telemetry.warnings import RateLimitedLog


class Telemetry:
    def __init__(
        self,
        metrics: Metrics,
        tracing: Tracing | None = None,
        access_log: AccessLog | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
        wall_clock: Callable[[], float] = time.time,
        warnings: RateLimitedLog | None = None,
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.tracer = tracing.tracer if tracing is not None else None
        #: spans around the data path's steps, handed to the data plane and the cache (None: tracing off)
        self.steps = StepSpans(self.tracer) if self.tracer is not None else None
        self.access_log = access_log
        self.clock = clock  # request durations
        self.wall_clock = wall_clock  # access log timestamps
        self.warnings = warnings or RateLimitedLog(logging.getLogger("isthmus.degraded"))

    @classmethod
    def from_config(cls, config: TelemetryConfig, source: str = "config") -> Telemetry:
        """Raises :class:`ConfigError` naming ``telemetry.access_log.path`` when the log cannot be opened."""
        from isthmus.telemetry.otlp import metric_reader

        resource = Resource({"service.name": config.service_name, "service.version": __version__})
        tracing = Tracing(config.tracing, resource) if config.tracing.otlp_endpoint is not None else None
        readers = [metric_reader(config.metrics)] if config.metrics.otlp_endpoint is not None else []
        metrics = Metrics(
            resource, readers=readers, exemplar_filter=TraceBasedExemplarFilter() if tracing is not None else None
        )
        access_log = None
        if config.access_log.enabled:
            try:
                access_log = AccessLog.open(config.access_log.path)
            except OSError as exc:
                metrics.close()
                if tracing is not None:
                    tracing.close()
                reason = f"cannot open the access log: {exc.strerror or exc}"
                raise ConfigError([ConfigIssue(source, None, "telemetry.access_log.path", reason)]) from None
            log = access_log
            metrics.observe(
                "isthmus.access_log.dropped", lambda: [(log.dropped, {})], kind="counter", unit="{line}",
                description="Access log lines dropped because the writer fell behind (a stuck disk)",
            )  # fmt: skip
        return cls(metrics, tracing, access_log)

    @classmethod
    def disabled(cls) -> Telemetry:
        """Records into nothing exported: for unit tests and embedded data planes."""
        return cls(Metrics(Resource({}), prometheus=False))

    def scrape(self, accept: str | None = None) -> tuple[bytes, str]:
        """Prometheus exposition of every metric, and its content type (the admin port's ``/metrics``)."""
        return self.metrics.scrape(accept)

    def observe(self, name: str, source: Source, *, kind: str, unit: str, description: str) -> None:
        """Export ``source()``'s ``(value, attributes)`` pairs as ``name`` (read at each collection)."""
        self.metrics.observe(name, source, kind=kind, unit=unit, description=description)  # type: ignore[arg-type]

    def close(self) -> None:
        """Flush and stop the exporters, close the access log. Blocks: see :meth:`aclose`."""
        try:
            if self.tracing is not None:
                self.tracing.close()
            self.metrics.close()
        finally:
            if self.access_log is not None:
                self.access_log.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
