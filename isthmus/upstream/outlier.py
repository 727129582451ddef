"""Passive outlier detection: eject the endpoints real traffic shows to be failing (Envoy's).

The cluster calls :meth:`OutlierDetector.record` after every try and :meth:`~OutlierDetector.review`
every ``config.interval``; the detector sets ``hosts.ejected`` and says why. Follows Envoy's
``source/common/upstream/outlier_detection_impl.cc``:

- Outcomes as Envoy sees them without ``split_external_local_origin_errors``: a connect
  failure, a reset and a timeout count as gateway failures (Envoy maps them to 503/504), as do
  502/503/504 answers; every failure also counts as a 5xx. A non-gateway 5xx resets the gateway
  streak; a success resets both. LOCAL (the gateway's own refusal) is not counted at all.
- consecutive_5xx / consecutive_gateway_failure fire when a streak reaches the threshold (the
  gateway detector first, as Envoy posts it first); the streak restarts whether or not the
  endpoint could be ejected. Both are always enforced here (Envoy: ``enforcing_consecutive_5xx``
  100 %, ``enforcing_consecutive_gateway_failure`` 0 % by default): the config has no field.
- Ejection: refused when ``100 x (ejected + 1) / endpoints > max_ejection_percent``, except that
  one endpoint may always be ejected (Envoy's ``always_eject_one_host``, which older Envoy did
  by default); then ``enforcing`` (success rate, failure percentage) is drawn with ``random``.
  An ejection lasts ``min(base_ejection_time x count, max_ejection_time)`` where ``count`` (the
  ejection count) grows by one per ejection while ``base x count < max + base``, and decays by
  one at each review an endpoint is not ejected and was returned at least one interval ago.
  Returns happen at reviews (so an ejection lasts up to one interval longer), or at once when
  an active health check passes (:meth:`returned`, Envoy's
  ``successful_active_health_check_uneject_host``). No ejection jitter
  (``max_ejection_time_jitter`` 0, Envoy's default).
- Success rate and failure percentage run at each review over the interval's counts of the
  endpoints not ejected with at least ``request_volume`` requests, when at least
  ``minimum_hosts`` qualify: success rate ejects below ``mean - stdev_factor x stdev`` (the
  population stdev, rates in percent), failure percentage at or above ``threshold``.

Hot path: :meth:`record` of a SUCCESS is one integer increment: the streaks are not reset on
success but on the next failure, which sees that successes were counted since the last one.
Differs from Envoy: no local-origin split, no extension monitors, per-interval counts swap
(Envoy's two buckets) replaced by counting since the last review.
"""

from __future__ import annotations

from math import sqrt
from typing import Callable

from isthmus.config.resilience import OutlierDetectionConfig
from isthmus.upstream.hosts import EndpointSet
from isthmus.upstream.outcome import Outcome

_ERROR_5XX = Outcome.ERROR_5XX
_LOCAL = Outcome.LOCAL

CONSECUTIVE_5XX = "consecutive_5xx"
CONSECUTIVE_GATEWAY_FAILURE = "consecutive_gateway_failure"
SUCCESS_RATE = "success_rate"
FAILURE_PERCENTAGE = "failure_percentage"
RETURNED = "returned"


class OutlierDetector:
    """Ejects endpoints of ``hosts`` from outcomes and interval statistics."""

    __slots__ = (
        "config", "hosts", "overflows", "_clock", "_random", "_enabled", "_limit_5xx", "_limit_gateway",
        "_ok", "_failed", "_seen", "_streak_5xx", "_streak_gateway", "_count", "_times", "_ejected_at",
        "_returned_at",
    )  # fmt: skip

    def __init__(
        self, config: OutlierDetectionConfig, hosts: EndpointSet, clock: Callable[[], float], random: Callable[[], float]
    ):
        n = len(hosts.names)
        self.config = config
        self.hosts = hosts
        #: ejections refused by max_ejection_percent (Envoy's ejections_overflow)
        self.overflows = 0
        self._clock = clock
        self._random = random
        self._enabled = config.enabled
        self._limit_5xx = config.consecutive_5xx
        self._limit_gateway = config.consecutive_gateway_failure
        self._ok = [0] * n  # successes in this interval
        self._failed = [0] * n  # failures in this interval
        self._seen = [0] * n  # _ok at the last failure: more since means the streaks were broken
        self._streak_5xx = [0] * n
        self._streak_gateway = [0] * n
        self._count = [0] * n  # the ejection count that multiplies base_ejection_time (decays)
        self._times = [0] * n  # ejections ever
        self._ejected_at = [0.0] * n
        self._returned_at: list[float | None] = [None] * n

    def record(self, i: int, outcome: Outcome) -> str | None:
        """Count one try's outcome on endpoint ``i``; the reason when it ejected ``i``."""
        if not outcome:  # Outcome.SUCCESS is 0: the hot path, one increment
            self._ok[i] += 1
            return None
        if outcome == _LOCAL or not self._enabled:
            return None
        ok = self._ok[i]
        if ok != self._seen[i]:  # a success since the last failure
            self._seen[i] = ok
            self._streak_5xx[i] = self._streak_gateway[i] = 0
        self._failed[i] += 1
        reason = None
        if outcome == _ERROR_5XX:
            self._streak_gateway[i] = 0
        else:
            streak = self._streak_gateway[i] = self._streak_gateway[i] + 1
            if streak == self._limit_gateway:
                self._streak_gateway[i] = 0
                if self._eject(i, 100.0):
                    reason = CONSECUTIVE_GATEWAY_FAILURE
        streak = self._streak_5xx[i] = self._streak_5xx[i] + 1
        if streak == self._limit_5xx:
            self._streak_5xx[i] = 0
            if reason is None and self._eject(i, 100.0):
                reason = CONSECUTIVE_5XX
        return reason

    def review(self) -> list[tuple[int, str]]:
        """The interval's work: return ejected endpoints whose time is up ("returned"), eject by
        success rate and failure percentage over the interval's counts, reset the counts, decay
        the ejection counts. Each change as (endpoint, reason), in that order."""
        now = self._clock()
        hosts = self.hosts
        config = self.config
        changes: list[tuple[int, str]] = []
        n = len(hosts.names)
        for i in range(n):
            if hosts.ejected[i] and now - self._ejected_at[i] >= self.ejection_time(i):
                self._return(i, now)
                changes.append((i, RETURNED))
        if self._enabled:
            if config.success_rate is not None:
                changes += self._success_rate()
            if config.failure_percentage is not None:
                changes += self._failure_percentage()
        ok, seen = self._ok, self._seen
        for i in range(n):
            if ok[i] != seen[i]:  # a success since the last failure: the streaks were broken
                self._streak_5xx[i] = self._streak_gateway[i] = 0
            ok[i] = seen[i] = self._failed[i] = 0
            returned = self._returned_at[i]
            if (
                self._count[i]
                and not hosts.ejected[i]
                and returned is not None
                and now - returned >= config.interval
            ):
                self._count[i] -= 1
        return changes

    def returned(self, i: int) -> bool:
        """A passing active health check returns an ejected endpoint at once; True if it was."""
        if not self.hosts.ejected[i]:
            return False
        self._return(i, self._clock())
        return True

    def ejections(self, i: int) -> int:
        """Endpoint ``i``'s ejection count: multiplies base_ejection_time, decays while it is in."""
        return self._count[i]

    def times_ejected(self, i: int) -> int:
        """How often endpoint ``i`` was ejected since the detector started."""
        return self._times[i]

    def ejection_time(self, i: int) -> float:
        """How long endpoint ``i``'s current ejection lasts (``min(base x count, max)``)."""
        config = self.config
        return min(config.base_ejection_time * max(self._count[i], 1), config.max_ejection_time)

    def _eject(self, i: int, enforcing: float) -> bool:
        hosts = self.hosts
        if hosts.ejected[i]:
            return False
        active = sum(hosts.ejected)  # rare (an ejection), and right even if hosts was given ejected endpoints
        if active and 100.0 * (active + 1) > self.config.max_ejection_percent * len(hosts.names):
            self.overflows += 1
            return False
        if enforcing < 100.0 and self._random() * 100.0 >= enforcing:
            return False
        config = self.config
        if self._count[i] * config.base_ejection_time < config.max_ejection_time + config.base_ejection_time:
            self._count[i] += 1
        self._times[i] += 1
        self._ejected_at[i] = self._clock()
        hosts.set_ejected(i, True)
        return True

    def _return(self, i: int, now: float) -> None:
        self._returned_at[i] = now
        # fresh streaks, so a few new errors do not eject it again at once (as Envoy)
        self._streak_5xx[i] = self._streak_gateway[i] = 0
        self._seen[i] = self._ok[i]
        self.hosts.set_ejected(i, False)

    def _candidates(self, volume: int) -> list[tuple[int, float]]:
        """(endpoint, success rate in percent) of the endpoints not ejected with ``volume`` requests."""
        out = []
        for i, ejected in enumerate(self.hosts.ejected):
            total = self._ok[i] + self._failed[i]
            if not ejected and total >= volume:
                out.append((i, 100.0 * self._ok[i] / total))
        return out

    def _success_rate(self) -> list[tuple[int, str]]:
        sr = self.config.success_rate
        assert sr is not None
        rates = self._candidates(sr.request_volume)
        if not rates or len(rates) < sr.minimum_hosts:
            return []
        mean = sum(r for _, r in rates) / len(rates)
        stdev = sqrt(sum((r - mean) ** 2 for _, r in rates) / len(rates))
        threshold = mean - sr.stdev_factor * stdev
        return [(i, SUCCESS_RATE) for i, r in rates if r < threshold and self._eject(i, sr.enforcing)]

    def _failure_percentage(self) -> list[tuple[int, str]]:
        fp = self.config.failure_percentage
        assert fp is not None
        rates = self._candidates(fp.request_volume)
        if not rates or len(rates) < fp.minimum_hosts:
            return []
        return [(i, FAILURE_PERCENTAGE) for i, r in rates if 100.0 - r >= fp.threshold and self._eject(i, fp.enforcing)]

    def __repr__(self) -> str:
        return f"OutlierDetector(ejected={self.hosts.ejected}, counts={self._count})"
