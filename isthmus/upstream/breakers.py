"""Per-backend circuit breakers: requests and retries in flight, bounded (Envoy's thresholds).

Envoy's ``circuit_breakers.thresholds`` (``ResourceManagerImpl``): ``max_requests`` bounds the
requests in flight to the cluster; retries in flight are bounded by ``retry_budget`` when set,
else by ``max_retries``. With a budget a retry may start while retries in flight are fewer than
``max(min_retry_concurrency, budget_percent % of the requests in flight)`` (the percentage of a
count truncated to a whole number, as Envoy's integer conversion does). Differs from Envoy:
the budget's base counts the calls admitted by :meth:`Breakers.try_request` (Envoy counts every
upstream request and pending request, retries included), so retries are a share of the original
requests, and hedges take from the same retry allowance. ``max_pending`` and ``max_connections``
bound the backend's connection pool and are enforced by the protocol clients.

What overflows is refused at once (:class:`isthmus.backends.errors.BackendOverloaded`), counted
in ``overflows`` by "requests" or "retries". Per request: an integer comparison and update.
"""

from __future__ import annotations

from isthmus.config.resilience import CircuitBreakersConfig


class Breakers:
    """The counters of one backend; ``requests`` and ``retries`` are the ones in flight."""

    __slots__ = ("requests", "retries", "overflows", "_max_requests", "_max_retries", "_budget", "_min_retries")

    def __init__(self, config: CircuitBreakersConfig):
        self.requests = 0
        self.retries = 0
        self.overflows: dict[str, int] = {"requests": 0, "retries": 0}
        self._max_requests = config.max_requests
        budget = config.retry_budget
        self._max_retries = config.max_retries
        self._budget = budget.budget_percent / 100.0 if budget is not None else None
        self._min_retries = budget.min_retry_concurrency if budget is not None else 0

    def try_request(self) -> bool:
        """Admit one request (True), or count an overflow (False)."""
        if self.requests < self._max_requests:
            self.requests += 1
            return True
        self.overflows["requests"] += 1
        return False

    def done_request(self) -> None:
        self.requests -= 1

    def retry_limit(self) -> int:
        """How many retries may be in flight now."""
        if self._budget is None:
            return self._max_retries
        return max(self._min_retries, int(self._budget * self.requests))

    def try_retry(self) -> bool:
        """Admit one retry or hedge (True), or count an overflow (False)."""
        if self.retries < self.retry_limit():
            self.retries += 1
            return True
        self.overflows["retries"] += 1
        return False

    def done_retry(self) -> None:
        self.retries -= 1

    def __repr__(self) -> str:
        return f"Breakers(requests={self.requests}, retries={self.retries}, overflows={self.overflows})"
