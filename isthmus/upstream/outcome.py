"""What one try's result says about the endpoint: the one reading of backend errors by this layer.

Outlier detection counts outcomes; a retry policy's ``retry_on`` matches them. The backend layer's
errors carry the facts (:mod:`isthmus.backends.errors`: ``sent``, ``status``, ``upstream_status``,
``grpc_code``); this module names them once.
"""

from __future__ import annotations

from enum import IntEnum

from isthmus.backends.errors import (
    BackendError,
    BackendFailed,
    BackendOverloaded,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    BackendUnsupported,
)


class Outcome(IntEnum):
    SUCCESS = 0  # an answer, or a 4xx that is the app's fault: the endpoint works
    ERROR_5XX = 1  # a 5xx answer other than 502/503/504, or an undecodable answer
    GATEWAY_ERROR = 2  # a 502, 503 or 504 answer (gRPC UNAVAILABLE / RESOURCE_EXHAUSTED from the server)
    CONNECT_FAILURE = 3  # no connection: nothing was sent
    RESET = 4  # the connection broke after the request was sent
    TIMEOUT = 5  # no answer within the try's limit
    LOCAL = 6  # the gateway's own refusal (a breaker, a closed client): says nothing of the endpoint


#: outcomes Envoy counts as "gateway failures" (consecutive_gateway_failure)
GATEWAY_FAILURES = frozenset({Outcome.GATEWAY_ERROR, Outcome.CONNECT_FAILURE, Outcome.RESET, Outcome.TIMEOUT})
#: outcomes that count as 5xx (consecutive_5xx; success rate; failure percentage)
FAILURES = GATEWAY_FAILURES | {Outcome.ERROR_5XX}


def outcome_of(exc: BackendError) -> Outcome:
    """The outcome a backend error stands for."""
    if isinstance(exc, BackendOverloaded):
        return Outcome.LOCAL
    if isinstance(exc, (BackendRejected, BackendUnsupported)):
        return Outcome.SUCCESS
    if isinstance(exc, BackendTimeout):
        return Outcome.TIMEOUT
    if isinstance(exc, BackendUnavailable):
        if not exc.sent:
            return Outcome.CONNECT_FAILURE
        if exc.status is not None or exc.grpc_code in ("UNAVAILABLE", "RESOURCE_EXHAUSTED"):
            return Outcome.GATEWAY_ERROR
        return Outcome.RESET
    if isinstance(exc, BackendFailed):
        if exc.upstream_status in (502, 503, 504):
            return Outcome.GATEWAY_ERROR
        return Outcome.ERROR_5XX
    return Outcome.ERROR_5XX
