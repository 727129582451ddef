"""W3C Trace Context between the app, the gateway and the backend.

With tracing on, the ingress continues the app's trace (``traceparent``/``tracestate``) and the
backend call carries the gateway's own span as the parent. With tracing off the gateway is
transparent: the app's ``traceparent`` and ``tracestate`` are forwarded to the backend unchanged
(one dict lookup per request), so a traced app and a traced model server still share a trace.
"""

from __future__ import annotations

from typing import Mapping

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


def passthrough(headers: Mapping[str, str], traceparent: str) -> dict[str, str]:
    """The trace headers to forward as they came (``traceparent`` already looked up)."""
    state = headers.get(TRACESTATE)
    return {TRACEPARENT: traceparent} if state is None else {TRACEPARENT: traceparent, TRACESTATE: state}


def sampled_flag(traceparent: str) -> bool | None:
    """The sampled flag of a valid version-00-shaped ``traceparent``, or None when it is not one."""
    if len(traceparent) < 55 or traceparent[2] != "-" or traceparent[35] != "-" or traceparent[52] != "-":
        return None
    version, trace_id, span_id, flags = traceparent[:2], traceparent[3:35], traceparent[36:52], traceparent[53:55]
    try:
        if version == "ff" or int(version, 16) < 0 or int(trace_id, 16) == 0 or int(span_id, 16) == 0:
            return None
        return bool(int(flags, 16) & 1)
    except ValueError:
        return None


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a ``traceparent`` value (``00-<32 hex>-<16 hex>-<2 hex>``), or None."""
    if traceparent is None or len(traceparent) < 55 or traceparent[2] != "-" or traceparent[35] != "-":
        return None
    trace_id = traceparent[3:35]
    return None if trace_id == "0" * 32 else trace_id
