"""The gateway's metrics: one OTel MeterProvider, read by Prometheus (a private registry) and OTLP.

The hot path records exactly one measurement per request (``request_done``: the duration
histogram, whose count is the request rate and whose ``status`` attribute gives the errors). That
histogram is pre-aggregated in plain lists (:mod:`isthmus.telemetry.request_histogram`, ~0.2 us
instead of the SDK's ~7 us) and added to each collection by the readers of
:mod:`isthmus.telemetry.producing`. Rare events (errors by kind, fallbacks) are synchronous counters; everything else
(in-flight requests, cache, pools, config, xDS) is an observable instrument whose callback reads
plain counters that other components keep, at collection time only.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Literal, Mapping

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, ExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from isthmus import __version__
from isthmus.telemetry.producing import ProducingPrometheusReader, _Producing
from isthmus.telemetry.request_histogram import RequestHistogram

#: Request duration buckets, seconds: 0.5 ms .. 10 s (a gateway adds well under a millisecond).
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The request histogram's attributes, in the order ``request_done`` takes them.
DURATION_ATTRIBUTES = ("model", "variant", "status", "transport", "cache")

Reading = Iterable[tuple[float, Mapping[str, str]]]
Source = Callable[[], Reading]


class Metrics:
    """Instruments on one MeterProvider. ``prometheus=False`` makes a metrics object that exports
    nothing (a gateway in a unit test); the record methods still work."""

    def __init__(
        self,
        resource: Resource,
        *,
        prometheus: bool = True,
        readers: Iterable[MetricReader] = (),
        exemplar_filter: ExemplarFilter | None = None,
    ):
        self.registry = CollectorRegistry(auto_describe=False)
        all_readers = list(readers)
        if prometheus:
            # the reader registers its collector in the registry it is given (never the global one)
            # and unregisters it on shutdown; one scope only, so no otel_scope_* labels
            all_readers.append(ProducingPrometheusReader(registry=self.registry, scope_info_enabled=False))
        self.provider = MeterProvider(
            metric_readers=all_readers,
            resource=resource,
            exemplar_filter=exemplar_filter or AlwaysOffExemplarFilter(),
            shutdown_on_exit=False,
        )
        meter = self.provider.get_meter("isthmus", __version__)
        self._meter = meter
        self._duration = RequestHistogram(
            "isthmus.request.duration",
            "s",
            "Inference requests: time from the request's arrival to its answer",
            DURATION_BUCKETS,
            DURATION_ATTRIBUTES,
        )
        self._record_duration = self._duration.record
        scope = InstrumentationScope("isthmus", __version__)
        for reader in all_readers:
            if isinstance(reader, _Producing):
                reader.attach([self._duration], scope, resource)
        self._errors = meter.create_counter(
            "isthmus.request.errors", unit="{error}", description="Failed inference requests by kind"
        )
        self._fallbacks = meter.create_counter(
            "isthmus.fallback.activations", unit="{fallback}", description="Requests answered by the route's fallback"
        )
        self._sources: dict[str, list[Source]] = {}
        self._closed = False
        # the Prometheus reader's collector queues each collection and a scrape drains the whole
        # queue: two scrapes at once (they run in threads) would print one collection twice and
        # leave the other empty, so scrapes take turns
        self._scrape_lock = threading.Lock()
        # always one data point: the SDK hands readers nothing (so no request histogram) without one
        build = [(1, {"version": __version__})]
        self.observe("isthmus.build.info", lambda: build, kind="gauge", unit="1", description="The gateway's version")

    # --- the hot path: one measurement per request ---------------------------------------------

    def request_done(self, model: str, variant: str, status: str, transport: str, cache: str, seconds: float) -> None:
        self._record_duration(seconds, (model, variant, status, transport, cache))

    def request_totals(self) -> dict[tuple[str, ...] | None, tuple[int, float, int]]:
        """The request histogram's series: ``(model, variant, status, transport, cache) -> (count,
        seconds, last record in ns since the epoch)`` (the statistics extension reads these)."""
        return self._duration.totals()

    # --- rare events ---------------------------------------------------------------------------

    def request_failed(self, model: str, variant: str, kind: str, transport: str) -> None:
        self._errors.add(1, {"model": model, "variant": variant, "kind": kind, "transport": transport})

    def fell_back(self, model: str, variant: str, fallback: str) -> None:
        self._fallbacks.add(1, {"model": model, "variant": variant, "fallback": fallback})

    # --- values read at collection time ----------------------------------------------------------

    def observe(
        self, name: str, source: Source, *, kind: Literal["counter", "gauge"], unit: str, description: str
    ) -> None:
        """Report ``source()``'s ``(value, attributes)`` pairs as ``name`` at every collection.

        Several sources may feed one name (the REST and gRPC ingresses' in-flight counts); the
        instrument is created with the first. Counters must be monotonic (cumulative totals).
        """
        sources = self._sources.get(name)
        if sources is not None:
            sources.append(source)
            return
        sources = self._sources[name] = [source]

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value, attrs) for read in sources for value, attrs in read()]

        create = self._meter.create_observable_counter if kind == "counter" else self._meter.create_observable_gauge
        create(name, callbacks=[callback], unit=unit, description=description)

    # --- export ----------------------------------------------------------------------------------

    def scrape(self, accept: str | None = None) -> tuple[bytes, str]:
        """The Prometheus exposition (text, or OpenMetrics when ``accept`` asks for it) and its content type."""
        encode, content_type = choose_encoder(accept or "")
        with self._scrape_lock:
            return encode(self.registry), content_type

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.provider.shutdown()
