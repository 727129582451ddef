"""W3C Trace Context between the app, the gateway and the backend.

With tracing on, the ingress continues the app's trace (``traceparent``/``tracestate``) and the
backend call carries the gateway's own span as the parent. With tracing off the gateway is
transparent: the app's ``traceparent`` and ``tracestate`` are forwarded to the backend unchanged
(one dict lookup per request), so a traced app and a traced model server still share a trace.
"""

from __future__ import annotations

import re
from typing import Mapping

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"


def passthrough(headers: Mapping[str, str], traceparent: str) -> dict[str, str]:
    """The trace headers to forward as they came (``traceparent`` already looked up)."""
    state = headers.get(TRACESTATE)
    return {TRACEPARENT: traceparent} if state is None else {TRACEPARENT: traceparent, TRACESTATE: state}


# W3C Trace Context: lower-case hex only; version 00 is exactly 55 characters, later versions may add "-...".
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


def sampled_flag(traceparent: str) -> bool | None:
    """The sampled flag of a valid ``traceparent``, or None when it is not one (W3C Trace Context)."""
    m = _TRACEPARENT.fullmatch(traceparent)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return bool(int(flags, 16) & 1)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a ``traceparent`` value (``00-<32 hex>-<16 hex>-<2 hex>``), or None."""
    if traceparent is None or len(traceparent) < 55 or traceparent[2] != "-" or traceparent[35] != "-":
        return None
    trace_id = traceparent[3:35]
    return None if trace_id == "0" * 32 else trace_id
