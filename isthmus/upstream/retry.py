"""Which failed tries are tried again, and how long to wait first: a route's retry policy for
one backend, built once (:meth:`RetryPolicy.of`) from the backend's ``retries`` settings.

``retry_on`` names are Envoy's (``x-envoy-retry-on``) with Envoy's meaning
(``RetryStateImpl::wouldRetryFromReset`` / ``wouldRetryFromHeaders``):

- connect-failure: no connection, nothing sent. reset, 5xx and gateway-error cover it too (Envoy
  retries every reset for those), and so do refused-stream and unavailable when the refusal
  carried gRPC UNAVAILABLE.
- reset, 5xx, gateway-error: a connection broken after the request was sent, and a per-try
  timeout (Envoy's "disconnect/reset/read timeout").
- 5xx: an HTTP answer 500-599; gateway-error: an HTTP 502, 503 or 504;
  retriable-status-codes: an HTTP status in ``retriable_status_codes`` (any, 4xx included). An
  answer that could not be decoded carries no status and is not retried (Envoy never retries
  a 200).
- unavailable, resource-exhausted, cancelled, deadline-exceeded, internal: that gRPC status
  from the backend (as in Envoy, a gRPC status is not an HTTP 5xx: list the gRPC names).

A route marked ``idempotent: false`` retries only a try that sent nothing (a connect failure
covered by ``retry_on``). The gateway's own refusals (``Outcome.LOCAL``: a breaker) are never
retried, as Envoy never retries an overflow.

Back-off is fully jittered: the wait before retry ``n`` (0 for the first) is uniform in
``[0, min(max_interval, base_interval x 2^n))``, max_interval 10 x base by default (Envoy: 25ms
and 250ms). Envoy's bound grows as ``base x (2^(n+1) - 1)``; this one as ``base x 2^n``. A
``Retry-After`` the backend sent is honoured: the wait is the larger of the two.
"""

from __future__ import annotations

from typing import Callable

from isthmus.backends.errors import BackendFailed, BackendRejected, BackendUnavailable
from isthmus.config.resilience import RetryPolicyConfig
from isthmus.upstream.outcome import Outcome

_C, _R, _T = Outcome.CONNECT_FAILURE, Outcome.RESET, Outcome.TIMEOUT

#: gRPC status names by retry_on name
GRPC_RETRY_ON = {
    "unavailable": "UNAVAILABLE",
    "resource-exhausted": "RESOURCE_EXHAUSTED",
    "cancelled": "CANCELLED",
    "deadline-exceeded": "DEADLINE_EXCEEDED",
    "internal": "INTERNAL",
}


def http_status(exc: BaseException | None) -> int | None:
    """The backend's HTTP status a failure carries, if it answered one."""
    if isinstance(exc, BackendFailed):
        return exc.upstream_status
    if isinstance(exc, (BackendUnavailable, BackendRejected)):
        return exc.status
    return None


class RetryPolicy:
    """Decides about one failed try; read-only after :meth:`of`."""

    __slots__ = ("num_retries", "per_try_timeout", "idempotent", "_outcomes", "_statuses", "_grpc", "_refused",
                 "_base", "_max")  # fmt: skip

    def __init__(self, config: RetryPolicyConfig, idempotent: bool):
        on = set(config.retry_on)
        self.num_retries = config.num_retries
        self.per_try_timeout = config.per_try_timeout
        self.idempotent = idempotent
        any_reset = bool(on & {"reset", "5xx", "gateway-error"})
        outcomes = set()
        if any_reset or "connect-failure" in on:
            outcomes.add(_C)
        if any_reset and idempotent:
            outcomes |= {_R, _T}
        self._outcomes = frozenset(outcomes)
        statuses: set[int] = set()
        if idempotent:
            if "5xx" in on:
                statuses |= set(range(500, 600))
            if "gateway-error" in on:
                statuses |= {502, 503, 504}
            if "retriable-status-codes" in on:
                statuses |= set(config.retriable_status_codes)
        self._statuses = frozenset(statuses)
        self._grpc = frozenset(code for name, code in GRPC_RETRY_ON.items() if name in on) if idempotent else frozenset()
        #: gRPC codes that, refusing a call before it was sent, are retried even when not idempotent
        self._refused = frozenset(
            {"UNAVAILABLE"} if on & {"refused-stream", "unavailable"} else ()
        )
        self._base = config.backoff.base_interval
        self._max = config.backoff.max_interval if config.backoff.max_interval is not None else 10 * self._base

    @classmethod
    def of(cls, config: RetryPolicyConfig, idempotent: bool) -> RetryPolicy:
        return cls(config, idempotent)

    def retries(self, outcome: Outcome, exc: BaseException | None) -> bool:
        """Whether ``retry_on`` covers this failed try (not whether tries or budget are left)."""
        if outcome in self._outcomes:
            return True
        if outcome == _C:
            return getattr(exc, "grpc_code", None) in self._refused
        if not self.idempotent:
            return False
        if http_status(exc) in self._statuses:
            return True
        return getattr(exc, "grpc_code", None) in self._grpc

    def backoff(self, n: int, random: Callable[[], float]) -> float:
        """The fully jittered wait before retry ``n`` (0 for the first)."""
        return random() * min(self._max, self._base * (1 << min(n, 40)))

    def wait(self, n: int, exc: BaseException | None, random: Callable[[], float]) -> float:
        """The wait before retry ``n``: the back-off, or the backend's Retry-After if longer."""
        wait = self.backoff(n, random)
        after = getattr(exc, "retry_after", None)
        return after if after is not None and after > wait else wait

    def __repr__(self) -> str:
        return f"RetryPolicy(num_retries={self.num_retries}, idempotent={self.idempotent})"
