"""The Triton extensions over the data plane, for both transports: model configuration, the
repository index and statistics (documents in Triton's JSON shapes; gRPC parses them into its
messages). Errors are the data plane's (unknown model or version -> 404 / NOT_FOUND)."""

from __future__ import annotations

import asyncio
from typing import Any

from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.model_config import VariantInfo, index_entry, model_config
from isthmus.router import Route, UnknownVersion
from isthmus.telemetry.model_stats import model_stats

#: The Triton extension names the server metadata lists (REST ``GET /v2``, gRPC ``ServerMetadata``).
#: Not ``model_repository``: the index is served, but loading and unloading are not.
EXTENSIONS = ("model_configuration", "statistics")
#: REST also speaks the binary tensor data extension (isthmus.codecs.v2_binary); gRPC has raw contents instead
REST_EXTENSIONS = ("binary_tensor_data", *EXTENSIONS)


def _check_version(route: Route, version: str | None) -> None:
    if version is not None and version not in route.versions:
        known = ", ".join(route.versions) or "none"
        raise UnknownVersion(f"model '{route.model}' has no version '{version}' (known: {known})")


async def config_of(dp: DataPlane, model: str, version: str | None = None) -> dict[str, Any]:
    """``GET /v2/models/{m}[/versions/{v}]/config``: the route (or its variants of one version)."""
    state = dp.state
    route = state.routes.route(model)
    _check_version(route, version)
    variants = [
        VariantInfo(v.backend, state.backend_configs[v.backend].protocol, v.weight, v.version)
        for v in route.variants
        if version is None or v.version == version
    ]
    metadata = await dp.model_metadata(model, version)
    versions = route.versions if version is None else (version,)
    return model_config(model, versions, variants, metadata, route.fallback)


async def repository_index(dp: DataPlane, ready_only: bool = False) -> list[dict[str, str]]:
    """Every route, one row per version of its variants ("" for variants without one): READY when
    a variant of that version with traffic is ready, else UNAVAILABLE with the reason."""
    state = dp.state
    rows: list[tuple[str, str, list[str]]] = []  # (model, version, backends with traffic)
    for model in state.routes.models:
        route = state.routes.route(model)
        by_version: dict[str, list[str]] = {}
        for v in route.variants:
            backends = by_version.setdefault(v.version or "", [])
            if v.weight > 0:
                backends.append(v.backend)
        rows.extend((model, version, backends) for version, backends in sorted(by_version.items()))

    async def row(model: str, version: str, backends: list[str]) -> dict[str, str]:
        if not backends:
            return index_entry(model, version, False, "no variant with traffic")
        results = await asyncio.gather(*(state.backends[b].ready(model) for b in backends), return_exceptions=True)
        if any(r is True for r in results):
            return index_entry(model, version, True)
        return index_entry(model, version, False, f"no variant with traffic is ready ({', '.join(backends)})")

    entries = await asyncio.gather(*(row(*r) for r in rows))
    return [e for e in entries if not ready_only or e["state"] == "READY"]


def statistics(dp: DataPlane, model: str | None = None, version: str | None = None) -> dict[str, Any]:
    """``{"model_stats": [...]}``: every route (``model`` None), or one route; without a version one
    entry for the whole route (version ""), with one the requests its variants answered."""
    state = dp.state
    totals = dp.telemetry.metrics.request_totals()
    if model is None:
        return {"model_stats": [model_stats(m, "", totals) for m in state.routes.models]}
    route = state.routes.route(model)
    _check_version(route, version)
    if version is None:
        return {"model_stats": [model_stats(model, "", totals)]}
    variants = {v.backend for v in route.variants if v.version == version}
    if route.fallback is not None and state.backend_version(route.fallback) == version:
        variants.add(route.fallback)
    return {"model_stats": [model_stats(model, version, totals, variants)]}
