"""The endpoints of one backend and their state: what the balancer may pick from.

Envoy keeps a host set per cluster with health flags (``FAILED_ACTIVE_HC``,
``FAILED_OUTLIER_CHECK``) and a healthy subset the load balancer reads; this is the same for one
backend. The cluster increments and decrements ``in_flight``; the active health checker sets
``healthy``, the outlier detector ``ejected``. Only a change recomputes ``usable``, so a pick
reads one attribute.

Panic (Envoy's ``healthy_panic_threshold``): when the share of usable endpoints falls below
``panic_threshold`` percent, ``usable`` is every endpoint again: better to spread the load over
all of them than to overload the few left. ``panic_threshold`` 0 turns panic off (as in Envoy):
``usable`` may then be empty. ``no_usable`` tells, panic or not, that no endpoint is both
healthy and not ejected (the cluster then prefers the route's fallback). Differs from Envoy:
one priority level, no degraded hosts, no locality weighting.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from isthmus.config.model import grpc_endpoint


class EndpointSet:
    """Per-endpoint state of one backend, indexed like its ``endpoints``."""

    __slots__ = (
        "names", "weights", "equal_weights", "panic_threshold", "in_flight", "healthy", "ejected",
        "usable", "panic", "no_usable", "_all",
    )  # fmt: skip

    def __init__(self, names: Sequence[str], weights: Sequence[int], panic_threshold: float):
        if not names:
            raise ValueError("an endpoint set needs at least one endpoint")
        if len(weights) != len(names):
            raise ValueError(f"{len(weights)} weights for {len(names)} endpoints")
        if any(w < 1 for w in weights):
            raise ValueError("endpoint weights must be at least 1")
        if not 0.0 <= panic_threshold <= 100.0:
            raise ValueError("panic_threshold is a percentage in [0, 100]")
        n = len(names)
        self.names: tuple[str, ...] = tuple(names)
        self.weights: tuple[int, ...] = tuple(weights)
        #: all weights the same: balancers may ignore them
        self.equal_weights = len(set(self.weights)) == 1
        self.panic_threshold = panic_threshold
        self.in_flight: list[int] = [0] * n
        self.healthy: list[bool] = [True] * n
        self.ejected: list[bool] = [False] * n
        self._all: tuple[int, ...] = tuple(range(n))
        #: endpoints a pick may return (healthy and not ejected; every endpoint in panic)
        self.usable: tuple[int, ...] = self._all
        self.panic = False
        self.no_usable = False

    @classmethod
    def of(cls, endpoints: Sequence[str], weights: Mapping[str, int], panic_threshold: float) -> EndpointSet:
        """An endpoint set from a backend's ``endpoints`` and ``load_balancer`` settings: ``weights``
        by endpoint as written in the file (1 for an endpoint not named). A gRPC backend's
        endpoints arrive in canonical form (``host:port`` becomes ``grpc://host:port``), so a
        weight's key also matches in that form."""
        by_name = dict(weights)
        for key, weight in weights.items():
            try:
                by_name.setdefault(grpc_endpoint(key), weight)
            except ValueError:
                pass
        return cls(endpoints, [by_name.get(e, 1) for e in endpoints], panic_threshold)

    def set_healthy(self, i: int, healthy: bool) -> bool:
        """Mark endpoint ``i`` healthy or not (active health checks); True when that changed."""
        if self.healthy[i] == healthy:
            return False
        self.healthy[i] = healthy
        self._recompute()
        return True

    def set_ejected(self, i: int, ejected: bool) -> bool:
        """Mark endpoint ``i`` ejected or not (outlier detection); True when that changed."""
        if self.ejected[i] == ejected:
            return False
        self.ejected[i] = ejected
        self._recompute()
        return True

    def _recompute(self) -> None:
        healthy, ejected = self.healthy, self.ejected
        up = tuple(i for i in self._all if healthy[i] and not ejected[i])
        self.no_usable = not up
        self.panic = self.panic_threshold > 0.0 and len(up) * 100.0 < self.panic_threshold * len(self._all)
        # balancers notice a change by identity: a tuple is only ever shared with the same content
        self.usable = self._all if self.panic or len(up) == len(self._all) else up

    def __repr__(self) -> str:
        return f"EndpointSet(usable={self.usable}, panic={self.panic}, in_flight={self.in_flight})"
