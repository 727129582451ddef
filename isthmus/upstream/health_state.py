"""Active health checks' verdicts: consecutive passes and failures flip an endpoint's health.

As Envoy's health checker: an endpoint turns unhealthy after ``unhealthy_threshold`` consecutive
failed checks and healthy again after ``healthy_threshold`` consecutive passed ones; a result
that agrees with the current state resets the opposite streak. Differs from Envoy: endpoints
start healthy (Envoy starts them unhealthy until a first check passes, unless told otherwise),
so a gateway serves from its first request; no ``no_traffic_interval``.
"""

from __future__ import annotations


class HealthState:
    """Health of ``n`` endpoints from their checks; ``healthy[i]`` the current verdict."""

    __slots__ = ("healthy", "_healthy_threshold", "_unhealthy_threshold", "_streak")

    def __init__(self, healthy_threshold: int, unhealthy_threshold: int, n: int):
        if healthy_threshold < 1 or unhealthy_threshold < 1:
            raise ValueError("thresholds must be at least 1")
        self.healthy: list[bool] = [True] * n
        self._healthy_threshold = healthy_threshold
        self._unhealthy_threshold = unhealthy_threshold
        self._streak = [0] * n  # checks in a row that disagree with the current verdict

    def passed(self, i: int) -> bool:
        """Endpoint ``i`` passed a check; True when that made it healthy."""
        return self._check(i, True, self._healthy_threshold)

    def failed(self, i: int) -> bool:
        """Endpoint ``i`` failed a check; True when that made it unhealthy."""
        return self._check(i, False, self._unhealthy_threshold)

    def _check(self, i: int, result: bool, threshold: int) -> bool:
        if self.healthy[i] is result:  # agrees with the verdict: the opposite streak is over
            self._streak[i] = 0
            return False
        self._streak[i] += 1
        if self._streak[i] < threshold:
            return False
        self.healthy[i] = result
        self._streak[i] = 0
        return True

    def __repr__(self) -> str:
        return f"HealthState(healthy={self.healthy})"
