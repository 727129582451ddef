"""Metric readers that add pre-aggregated metrics (MetricProducers) to each collection.

The SDK's readers hand every collection to ``_receive_metrics`` (the extension point a
``MetricReader`` implements); these subclasses first add the metrics of their producers
(:class:`isthmus.telemetry.request_histogram.RequestHistogram`) under the gateway's
instrumentation scope, then export as usual: Prometheus and OTLP see one set of metrics.

The SDK calls ``_receive_metrics`` only when its own instruments have a data point, so a provider
using these readers needs one observable instrument that always reports (the gateway has several).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope


class Producer(Protocol):
    def metric(self) -> Metric | None: ...


def merged(data: MetricsData | None, producers: Sequence[Producer], scope: InstrumentationScope, resource: Resource) -> MetricsData | None:
    """``data`` with the producers' metrics added to ``scope`` (created when absent)."""
    extra = [m for m in (p.metric() for p in producers) if m is not None]
    if not extra:
        return data
    if data is None or not data.resource_metrics:
        return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, extra, "")], "")])
    first, *rest = data.resource_metrics
    scopes = list(first.scope_metrics)
    for i, sm in enumerate(scopes):
        if sm.scope.name == scope.name:
            scopes[i] = ScopeMetrics(sm.scope, [*sm.metrics, *extra], sm.schema_url)
            break
    else:
        scopes.append(ScopeMetrics(scope, extra, ""))
    return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *rest])


class _Producing:
    """Mixin for a MetricReader subclass: set ``_producers``, ``_scope`` and ``_resource``."""

    _producers: Sequence[Producer] = ()
    _scope: InstrumentationScope
    _resource: Resource

    def attach(self, producers: Sequence[Producer], scope: InstrumentationScope, resource: Resource) -> None:
        self._producers, self._scope, self._resource = tuple(producers), scope, resource

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        data = merged(metrics_data, self._producers, self._scope, self._resource) if self._producers else metrics_data
        super()._receive_metrics(data, timeout_millis, **kwargs)  # type: ignore[misc]


class ProducingPeriodicReader(_Producing, PeriodicExportingMetricReader):
    """``PeriodicExportingMetricReader`` (OTLP push) that exports the producers' metrics too."""


class ProducingPrometheusReader(_Producing, PrometheusMetricReader):
    """``PrometheusMetricReader`` (scraped through its registry) that exports the producers' metrics too."""
