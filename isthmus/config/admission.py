"""The ingress's own protection, per gateway process: load shedding and graceful shutdown."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from isthmus.config.units import Duration, DurationOrZero


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AdaptiveConcurrencyConfig(_Frozen):
    """A gradient concurrency limit (as Envoy's adaptive concurrency filter): the limit follows
    min RTT / sampled RTT, so queueing shows as a falling limit before latency grows."""

    min_limit: int = Field(8, ge=1, description="the limit never falls below this")
    max_limit: int = Field(1000, ge=1, description="the limit never rises above this")
    sample_percentile: float = Field(50.0, gt=0.0, le=100.0, description="latency percentile sampled per window")
    update_interval: Duration = Field(0.1, description="how often the limit is recomputed")
    min_rtt_interval: Duration = Field(60.0, description="how often the no-load latency is measured again")
    buffer: float = Field(0.25, ge=0.0, le=1.0, description="latency headroom over min RTT before the limit falls")

    @model_validator(mode="after")
    def _limits(self) -> AdaptiveConcurrencyConfig:
        if self.min_limit > self.max_limit:
            raise ValueError(f"min_limit ({self.min_limit}) exceeds max_limit ({self.max_limit})")
        return self


class LoadSheddingConfig(_Frozen):
    """Requests past the bound get a fast 503 with ``Retry-After`` (gRPC RESOURCE_EXHAUSTED) instead of
    waiting; admitted requests keep their latency. On by default with a fixed bound."""

    mode: Literal["fixed", "adaptive", "off"] = Field(
        "fixed", description="fixed: max_in_flight; adaptive: a gradient limit; off: no bound (not advised)"
    )
    max_in_flight: int = Field(1024, ge=1, description="fixed: inference requests in flight per gateway process")
    adaptive: AdaptiveConcurrencyConfig = AdaptiveConcurrencyConfig()
    retry_after: Duration = Field(1.0, description="the Retry-After a shed request is told (rounded up to seconds)")


class ShutdownConfig(_Frozen):
    """On SIGTERM: readiness fails at once; the listener keeps accepting for ``lame_duck`` (time for
    Kubernetes to take the pod out of its endpoints); then in-flight requests get up to
    ``drain_timeout`` to finish, and whatever still runs then is answered 503 / UNAVAILABLE. Idle
    keep-alive connections are closed cleanly; busy ones get ``Connection: close`` on their answer.
    SIGINT (Ctrl-C) skips the lame-duck period."""

    lame_duck: DurationOrZero = Field(5.0, description="listener kept open after readiness fails (0: none)")
    drain_timeout: Duration = Field(20.0, description="longest wait for in-flight requests after the lame duck")
