"""What the admin API reads, as one narrow interface: the handlers know nothing of the gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the gateway should get traffic, and if not, every reason why."""

    ready: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scrape:
    """One Prometheus exposition: the body and its content type (text or OpenMetrics)."""

    body: bytes
    content_type: str


class AdminSources(Protocol):
    """The gateway as the admin API sees it (real one: :class:`isthmus.admin.sources.GatewaySources`)."""

    def readiness(self) -> Readiness: ...

    def metrics(self, accept: str | None) -> Scrape | None:
        """The metrics (OpenMetrics when ``accept``, the scraper's Accept header, asks for it, else
        Prometheus text), or None when the gateway exports none."""
        ...

    def config_dump(self) -> dict[str, Any]:
        """The effective config with its version and source, secrets already redacted."""
        ...
