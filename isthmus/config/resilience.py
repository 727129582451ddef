"""The upstream layer's settings in the traffic file: per backend (load balancing, active health
checks, outlier detection, circuit breakers, retries) and per route (idempotency, hedging).

Names and defaults follow Envoy's (``Cluster.outlier_detection``, ``circuit_breakers``,
``RouteAction.retry_policy`` / ``hedge_policy``) so the control plane maps them field by field
(docs/resilience.md, docs/xds.md). Where Isthmus differs, the field's description says so. A user
who configures nothing is protected: a connection that failed before anything was sent is retried
once on another endpoint, consecutive-failure outlier detection is on (gateway failures too), each
try has a timeout derived from the backend's, and retries are bounded by a budget.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from isthmus.config.units import Duration, DurationOrZero

Percent = Annotated[float, Field(ge=0.0, le=100.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoadBalancerConfig(_Frozen):
    """How each attempt picks one of the backend's endpoints."""

    policy: Literal["round_robin", "least_request"] = Field(
        "round_robin",
        description="round_robin (weighted), or least_request: the endpoint with fewer requests in flight "
        "of choice_count picked at random (power of two choices)",
    )
    choice_count: int = Field(2, ge=2, le=16, description="least_request: endpoints compared per pick")
    weights: dict[str, Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=dict, description="endpoint (as written in endpoints) -> weight (default 1)"
    )
    panic_threshold: Percent = Field(
        50.0,
        description="below this percentage of usable endpoints, ignore health and spread over all of them "
        "(Envoy's healthy_panic_threshold); 0 turns panic mode off",
    )


class HealthCheckConfig(_Frozen):
    """Active health checks: each endpoint probed on its own timer, in the backend's own protocol."""

    interval: Duration = Field(5.0, description="time between two checks of one endpoint")
    jitter: DurationOrZero = Field(1.0, description="up to this much added at random to each interval")
    timeout: Duration = Field(1.0, description="a check unanswered this long failed")
    unhealthy_threshold: int = Field(3, ge=1, description="consecutive failed checks that mark an endpoint unhealthy")
    healthy_threshold: int = Field(2, ge=1, description="consecutive passed checks that mark it healthy again")
    path: str | None = Field(
        None,
        pattern=r"^/[^\s#]*$",
        description="HTTP GET path that answers 2xx when healthy ({model} = the backend's model name); default "
        "per protocol: kserve-v2 /v2/health/ready, kserve-v1 /v1/models/{model}, tfserving the model's status, "
        "ray-serve /-/healthz, http-json its ready_path; gRPC backends use grpc.health.v1 (tfserving-grpc: "
        "GetModelStatus)",
    )

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> HealthCheckConfig:
        if self.timeout > self.interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must not exceed interval ({self.interval:g}s)")
        return self


class SuccessRateConfig(_Frozen):
    """Eject endpoints whose success rate is below mean - stdev_factor x stdev of the others'."""

    minimum_hosts: int = Field(5, ge=1, description="endpoints with enough requests needed to run the check")
    request_volume: int = Field(100, ge=1, description="requests in the interval for an endpoint to count")
    stdev_factor: float = Field(1.9, gt=0.0, description="Envoy's success_rate_stdev_factor / 1000")
    enforcing: Percent = Field(100.0, description="chance that a detected outlier is really ejected")


class FailurePercentageConfig(_Frozen):
    """Eject endpoints whose failure percentage in the interval is at or above ``threshold``."""

    threshold: Percent = Field(85.0, description="failure percentage that ejects")
    minimum_hosts: int = Field(5, ge=1)
    request_volume: int = Field(50, ge=1)
    enforcing: Percent = Field(100.0, description="chance that a detected outlier is really ejected")


class OutlierDetectionConfig(_Frozen):
    """Passive detection from real traffic (Envoy's semantics). On by default."""

    enabled: bool = True
    consecutive_5xx: int = Field(5, ge=1, description="consecutive 5xx answers (and gateway failures) that eject")
    consecutive_gateway_failure: int = Field(
        5,
        ge=1,
        description="consecutive connect failures, resets, timeouts, 502/503/504 that eject (enforced by "
        "default here, unlike Envoy whose default enforcement of this detector is 0 %)",
    )
    interval: Duration = Field(10.0, description="how often ejections are reviewed and rates computed")
    base_ejection_time: Duration = Field(30.0, description="ejection time, multiplied by the endpoint's ejection count")
    max_ejection_time: Duration = Field(300.0, description="the longest one ejection lasts")
    max_ejection_percent: Percent = Field(
        10.0, description="at most this share of the endpoints ejected at once (always at least one)"
    )
    success_rate: SuccessRateConfig | None = Field(SuccessRateConfig(), description="null turns it off")
    failure_percentage: FailurePercentageConfig | None = Field(None, description="off unless given")

    @model_validator(mode="after")
    def _ejection_times(self) -> OutlierDetectionConfig:
        if self.max_ejection_time < self.base_ejection_time:
            raise ValueError(
                f"max_ejection_time ({self.max_ejection_time:g}s) must be at least "
                f"base_ejection_time ({self.base_ejection_time:g}s)"
            )
        return self


class RetryBudgetConfig(_Frozen):
    """Retries (and hedges) in flight are limited to ``budget_percent`` of the requests in flight,
    but never below ``min_retry_concurrency`` (Envoy's ``retry_budget``)."""

    budget_percent: Percent = Field(20.0, description="retries in flight as a share of requests in flight")
    min_retry_concurrency: int = Field(3, ge=0, description="retries always allowed in flight")


class CircuitBreakersConfig(_Frozen):
    """Per-backend bounds; what overflows is answered at once (503 ``x-isthmus-overloaded``, gRPC
    UNAVAILABLE) or goes to the route's fallback, never queued without bound. ``max_connections``
    is the backend's own field."""

    max_pending: int = Field(
        1024, ge=0, description="requests waiting for a free connection to the backend (HTTP backends)"
    )
    max_requests: int = Field(1024, ge=1, description="requests in flight to the backend")
    max_retries: int = Field(3, ge=0, description="retries in flight, when retry_budget is null")
    retry_budget: RetryBudgetConfig | None = Field(
        RetryBudgetConfig(), description="the budget (on by default); null uses max_retries instead"
    )


RetryOn = Literal[
    "connect-failure",  # no connection: nothing was sent (always safe)
    "refused-stream",  # HTTP/2 REFUSED_STREAM / gRPC UNAVAILABLE before the call was sent
    "reset",  # the connection broke after the request was sent
    "gateway-error",  # 502, 503, 504, and a per-try timeout
    "5xx",  # any 5xx, and everything gateway-error covers
    "retriable-status-codes",  # the HTTP statuses in retriable_status_codes
    "unavailable",  # gRPC UNAVAILABLE
    "resource-exhausted",  # gRPC RESOURCE_EXHAUSTED
    "cancelled",  # gRPC CANCELLED
    "deadline-exceeded",  # gRPC DEADLINE_EXCEEDED
    "internal",  # gRPC INTERNAL
]


class BackoffConfig(_Frozen):
    """Fully jittered exponential back-off between tries: a wait drawn in [0, base x 2^n), at most max."""

    base_interval: Duration = Field(0.025, description="Envoy's default: 25ms")
    max_interval: Duration | None = Field(None, description="default: 10 x base_interval (250ms)")


class RetryPolicyConfig(_Frozen):
    """Which failed tries are tried again, and how. A retry goes to another endpoint when there is one;
    all tries fit in the backend's ``timeout`` and the app's deadline; a ``Retry-After`` answer is
    honoured. Routes marked ``idempotent: false`` retry only connect-failure."""

    retry_on: list[RetryOn] = Field(default_factory=lambda: ["connect-failure"], description="Envoy's retry_on names")
    retriable_status_codes: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=list, description="HTTP statuses retried with retry-on retriable-status-codes"
    )
    num_retries: int = Field(1, ge=0, le=10, description="tries after the first")
    per_try_timeout: Duration | None = Field(
        None, description="limit of one try (default: the backend's timeout; always within it)"
    )
    backoff: BackoffConfig = BackoffConfig()


class ResilienceConfig(_Frozen):
    """The upstream settings one backend (a cluster of endpoints) has; fields of every remote backend."""

    connect_timeout: Duration = Field(1.0, description="limit on opening a connection to one endpoint")
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    health_check: HealthCheckConfig | None = Field(None, description="active health checks (off unless given)")
    outlier_detection: OutlierDetectionConfig = OutlierDetectionConfig()
    circuit_breakers: CircuitBreakersConfig = CircuitBreakersConfig()
    retries: RetryPolicyConfig = RetryPolicyConfig()


class HedgingConfig(_Frozen):
    """Per route: when a try has no answer after ``after``, a second try goes to another endpoint
    without cancelling the first; the first good answer wins, the other is cancelled. Hedges count
    against the retry budget. Maps to Envoy's ``hedge_on_per_try_timeout`` (``after`` becomes the
    route's per-try timeout there)."""

    after: Duration = Field(description="how long a try runs alone before a hedge is sent")
    max_attempts: int = Field(2, ge=2, le=4, description="tries in flight at most, the first included")
