"""A histogram the hot path updates in plain Python lists, exported as an OTel histogram.

An OTel SDK ``Histogram.record`` costs ~6 us with five attributes (attribute cleaning, hashing,
locks, a ``Measurement`` object): 15 % of a pass-through request's CPU. The request-duration
histogram is updated once per request, so it keeps its own cumulative buckets per attribute set
(~0.5 us) and is turned into OTel ``HistogramDataPoint`` objects only when a reader collects, by
:mod:`isthmus.telemetry.producing`. This is the OpenTelemetry specification's *MetricProducer*
(a bridge for pre-aggregated data), which the Python SDK does not have yet. The data model,
Prometheus exposition and OTLP encoding are still the SDK's.

Export may run on another thread (the OTLP reader's); the hot path only mutates lists in place
and inserts new keys, and a snapshot copies each list in one step under the GIL. A series' count
is derived from its buckets, so count and buckets always agree.

Each series also keeps the wall-clock time of its last record (one store per request), so the
statistics extension (:mod:`isthmus.telemetry.model_stats`) reads its counts, durations and
``last_inference`` from :meth:`RequestHistogram.totals` instead of keeping counters of its own.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Callable, Sequence

from opentelemetry.sdk.metrics.export import AggregationTemporality, Histogram, HistogramDataPoint, Metric

#: OTel's default cardinality limit; further attribute sets are folded into one overflow series.
DEFAULT_MAX_SERIES = 2000
OVERFLOW_ATTRIBUTES = {"otel.metric.overflow": True}


class RequestHistogram:
    """Cumulative explicit-bucket histogram keyed by a tuple of attribute values.

    ``record(seconds, key)``: ``key`` holds the values of ``attribute_names``, in order. Bucket
    ``i`` counts values in ``(bounds[i-1], bounds[i]]``, the last one values above every bound
    (OTel's explicit-bucket semantics).
    """

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        bounds: Sequence[float],
        attribute_names: Sequence[str],
        *,
        max_series: int = DEFAULT_MAX_SERIES,
        clock_ns: Callable[[], int] = time.time_ns,
    ):
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("histogram bounds must be strictly increasing")
        self.name, self.unit, self.description = name, unit, description
        self.bounds = tuple(float(b) for b in bounds)
        self.attribute_names = tuple(attribute_names)
        self._max_series = max_series
        self._clock_ns = clock_ns
        self._start_ns = clock_ns()
        n = len(self.bounds) + 1
        self._sum_at, self._min_at, self._max_at, self._last_at = n, n + 1, n + 2, n + 3
        self._empty = [0] * n + [0.0, float("inf"), float("-inf"), 0]
        # key -> [bucket counts..., sum, min, max, time of the last record (ns since the epoch)]
        self._series: dict[tuple[str, ...] | None, list[float]] = {}

    def record(self, seconds: float, key: tuple[str, ...]) -> None:
        series = self._series.get(key)
        if series is None:
            series = self._new_series(key)
        series[bisect_left(self.bounds, seconds)] += 1
        series[self._sum_at] += seconds
        if seconds < series[self._min_at]:
            series[self._min_at] = seconds
        if seconds > series[self._max_at]:
            series[self._max_at] = seconds
        series[self._last_at] = self._clock_ns()

    def _new_series(self, key: tuple[str, ...]) -> list[float]:
        if len(key) != len(self.attribute_names):
            raise ValueError(f"{self.name}: expected values for {self.attribute_names}, got {key!r}")
        if len(self._series) >= self._max_series:
            return self._series.setdefault(None, list(self._empty))
        series = self._series[key] = list(self._empty)
        return series

    def totals(self) -> dict[tuple[str, ...] | None, tuple[int, float, int]]:
        """``key -> (count, sum of the recorded values, time of the last record in ns since the
        epoch)`` for every series (the overflow series' key is None); each read in one copy."""
        n = self._sum_at
        out = {}
        for key, live in list(self._series.items()):
            series = list(live)
            out[key] = (int(sum(series[:n])), series[n], int(series[n + 3]))
        return out

    def metric(self) -> Metric | None:
        """The histogram as an OTel metric (cumulative), or None before the first record."""
        now = self._clock_ns()
        n = self._sum_at
        points = []
        for key, live in list(self._series.items()):
            series = list(live)  # one copy: consistent with itself
            buckets = [int(c) for c in series[:n]]
            count = sum(buckets)
            if not count:
                continue
            attributes = dict(OVERFLOW_ATTRIBUTES) if key is None else dict(zip(self.attribute_names, key))
            points.append(
                HistogramDataPoint(
                    attributes=attributes,
                    start_time_unix_nano=self._start_ns,
                    time_unix_nano=now,
                    count=count,
                    sum=series[n],
                    bucket_counts=buckets,
                    explicit_bounds=self.bounds,
                    min=series[n + 1],
                    max=series[n + 2],
                )
            )
        if not points:
            return None
        data = Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE)
        return Metric(name=self.name, description=self.description, unit=self.unit, data=data)
