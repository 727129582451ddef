"""The statistics extension's numbers: the gateway's OWN per-route counts and latencies, in the
shape of Triton's ``model_stats`` (``GET /v2/models/{m}/stats``, gRPC ``ModelStatistics``).

Nothing is counted for them on the request path: they are read from the request-duration
histogram every inference request already feeds (:meth:`isthmus.telemetry.metrics.Metrics.request_totals`,
keyed by ``(model, variant, status, transport, cache)``), whatever the dialect (V1, V2 REST, V2 gRPC).
Pure: the series in, the document out.

What each field means for a gateway (docs/protocols.md, "Extensions"):

- ``inference_count``: successful requests (one per request: a batch of N counts once, the
  gateway does not look into batches); ``execution_count``: those that reached a backend (every
  success but cache hits, as Triton counts a cache hit as an inference without an execution).
- ``success`` / ``fail``: count and total duration (the gateway's arrival-to-answer time) of
  requests answered 200 / gRPC OK, and of every other status (4xx, 5xx, 499 "client closed").
- ``cache_hit``: count and duration of requests answered from the result cache; ``cache_miss``:
  count only (``ns`` 0: the lookup and insert are not timed apart from the backend call).
- ``queue``, ``compute_input``, ``compute_infer``, ``compute_output``: 0, not measured (the
  gateway does not queue; the backend's own split of its time is not visible to it).
- ``last_inference``: milliseconds since the epoch of the last request counted, 0 if none.
"""

from __future__ import annotations

from typing import Any, Container, Mapping

#: Status values (REST, gRPC) that count as a successful inference.
SUCCESS = frozenset({"200", "OK"})
Totals = Mapping[tuple[str, ...] | None, tuple[int, float, int]]


def _duration(count: int, seconds: float) -> dict[str, int]:
    return {"count": count, "ns": round(seconds * 1e9)}


NOT_MEASURED = {"count": 0, "ns": 0}


def model_stats(model: str, version: str, totals: Totals, variants: Container[str] | None = None) -> dict[str, Any]:
    """One ``model_stats`` entry: the requests to route ``model`` answered by one of ``variants``
    (None: every request to the route, including those that failed before a variant was chosen)."""
    success = fail = hits = misses = 0
    success_s = fail_s = hits_s = 0.0
    last_ns = 0
    for key, (count, seconds, at) in totals.items():
        if key is None or key[0] != model or (variants is not None and key[1] not in variants):
            continue
        status, cache = key[2], key[4]
        if status in SUCCESS:
            success += count
            success_s += seconds
            if cache == "hit":
                hits += count
                hits_s += seconds
            elif cache == "miss":
                misses += count
        else:
            fail += count
            fail_s += seconds
        if at > last_ns:
            last_ns = at
    return {
        "name": model,
        "version": version,
        "last_inference": last_ns // 1_000_000,
        "inference_count": success,
        "execution_count": success - hits,
        "inference_stats": {
            "success": _duration(success, success_s),
            "fail": _duration(fail, fail_s),
            "queue": dict(NOT_MEASURED),
            "compute_input": dict(NOT_MEASURED),
            "compute_infer": dict(NOT_MEASURED),
            "compute_output": dict(NOT_MEASURED),
            "cache_hit": _duration(hits, hits_s),
            "cache_miss": {"count": misses, "ns": 0},
        },
        "response_stats": {},
        "batch_stats": [],
        "memory_usage": [],
    }
