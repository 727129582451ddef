"""The config dump: the generation being served, as JSON, secrets redacted (a pure function).

Layout (docs/observability.md shows an example)::

    {"version": ..., "source": {...}, "applied_at": ISO 8601, "applied_at_unix": seconds,
     "config": {"listener": ..., "cache": ..., "backends": [...], "routes": [...], ...},
     "xds": {...}}                      # only for a gateway following a control plane

``config`` is the effective config: what the gateway runs (a reload keeps the listener and cache
it started with), each variant with the version it answers as (its own, else its backend's) and
its share of the route's traffic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Mapping

from isthmus.admin.redact import redact
from isthmus.gateway.state import GatewayState


def config_dump(
    state: GatewayState, *, applied_at: float, source: Mapping[str, Any], xds: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    config = state.config.model_dump(mode="json")
    for route in config.get("routes", []):
        _resolve_variants(route, state)
    dump: dict[str, Any] = {
        "version": state.version,
        "source": dict(source),
        "applied_at": datetime.fromtimestamp(applied_at, UTC).isoformat().replace("+00:00", "Z"),
        "applied_at_unix": applied_at,
        "config": config,
    }
    if xds is not None:
        dump["xds"] = dict(xds)
    return redact(dump)


def _resolve_variants(route: dict[str, Any], state: GatewayState) -> None:
    effective = state.routes.route(route["model"]).variants
    total = sum(v.weight for v in effective)
    for doc, variant in zip(route["variants"], effective):
        doc["version"] = variant.version
        doc["share"] = round(variant.weight / total, 6) if total else 0.0
