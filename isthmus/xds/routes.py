"""The routes of one traffic route, for Envoy and for proxyless gRPC: pure functions, no I/O.

In the order a gateway decides (:meth:`isthmus.router.table.Route.decide`), as far as the client
can follow it:

1. (Envoy) one route set per public version ``V`` (a variant's ``version``, else its backend's),
   matching ``/v2/models/M/versions/V...`` and ``/v1/models/M/versions/V...``: override routes
   (a variant of another version answers the gateway's 400), the unknown-override 400, and the
   weighted split among the variants of that version (404 when none has traffic);
2. (Envoy) any other version: 404, as the gateway answers;
3. the model's other paths: override routes, the unknown-override refusal, the weighted split
   over every variant (the one route carrying the Isthmus metadata the inverse reads).

Envoy variants whose path differs from the public one carry their rename program
(:mod:`isthmus.xds.rename`).
"""

from __future__ import annotations

import re
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.lua.v3 import lua_pb2
from envoy.type.matcher.v3 import regex_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from isthmus.config import Config, RouteConfig, VariantConfig
from isthmus.xds import direct
from isthmus.xds.metadata import metadata
from isthmus.xds.rename import LUA_FILTER, lua_program


def add_routes(vh: route_components_pb2.VirtualHost, config: Config, r: RouteConfig, regex: str | None) -> None:
    """``r``'s routes into ``vh``: for Envoy with ``regex`` (the model's paths), for gRPC without."""
    envoy = regex is not None
    if envoy:
        m = re.escape(r.model)
        labels = {v.backend: label(config, v) for v in r.variants}
        for version in sorted({lbl for lbl in labels.values() if lbl is not None}):
            vx = re.escape(version)
            subset = [v for v in r.variants if labels[v.backend] == version]
            _route_set(vh, config, r, f"^/(v2/models/{m}/versions/{vx}(/.*)?|v1/models/{m}/versions/{vx}([/:].*)?)$",
                       subset, f"{r.model}/version/{version}", version, labels)  # fmt: skip
        route = vh.routes.add(name=f"{r.model}/version-unknown")
        _match(route.match, f"^/(v2/models/{m}/versions/[^/]+(/.*)?|v1/models/{m}/versions/[^/:]+([/:].*)?)$")
        direct.unknown_version(route, r.model, sorted({lbl for lbl in labels.values() if lbl is not None}))
    _route_set(vh, config, r, regex, r.variants, r.model, None, {})


def label(config: Config, v: VariantConfig) -> str | None:
    """A variant's public version: its own, else its backend's (as :class:`~isthmus.router.RouteTable`)."""
    return v.version if v.version is not None else config.backend(v.backend).version


def _route_set(vh: route_components_pb2.VirtualHost, config: Config, r: RouteConfig, regex: str | None,
               subset: list[VariantConfig], name: str, version: str | None, labels: dict[str, str | None]) -> None:  # fmt: skip
    """Override routes (one per variant), the unknown-override refusal, then the weighted split of
    ``subset``. ``version`` set: the set of that public version (its names say so; no metadata)."""
    envoy = regex is not None
    timeout = max(config.backend(v.backend).timeout for v in r.variants)
    pin = "pin" if version is not None else "override"  # the inverse reads "<model>/override/<backend>"
    if r.override_header:
        for v in r.variants:
            route = vh.routes.add(name=f"{name}/{pin}/{v.backend}")
            _match(route.match, regex)
            route.match.headers.add(name=r.override_header).string_match.exact = v.backend
            if v in subset:
                route.route.cluster = v.backend
                route.route.timeout.CopyFrom(duration(timeout))
                if envoy:
                    _rename(route.typed_per_filter_config, config, r, v.backend)
            else:  # the gateway's UnknownVariant for a pinned variant of another version
                direct.wrong_version(route, v.backend, r.model, labels[v.backend], version or "")
        # an unknown value is refused: Envoy answers the gateway's 400; gRPC fails a call matching a
        # route it cannot forward with UNAVAILABLE ("Matching route has inappropriate action")
        route = vh.routes.add(name=f"{name}/override-unknown")
        _match(route.match, regex)
        direct.unknown_variant(route, r.override_header, r.model, [v.backend for v in r.variants])
    route = vh.routes.add(name=f"{name}/weighted")
    _match(route.match, regex)
    if version is not None and sum(v.weight for v in subset) == 0:
        direct.no_traffic(route, r.model, version)
        return
    action = route.route
    action.timeout.CopyFrom(duration(timeout))
    for v in subset:
        cw = action.weighted_clusters.clusters.add(name=v.backend, weight=wrappers_pb2.UInt32Value(value=v.weight))
        if envoy:
            _rename(cw.typed_per_filter_config, config, r, v.backend)
    if r.sticky_header:
        action.hash_policy.add().header.header_name = r.sticky_header
        action.weighted_clusters.use_hash_policy.value = True
    if version is None:
        route.metadata.CopyFrom(
            metadata({"model": r.model, "versions": [v.version for v in r.variants], "fallback": r.fallback,
                      "cache": r.cache.model_dump(mode="json")})  # fmt: skip
        )


def _rename(per_filter: Any, config: Config, r: RouteConfig, backend: str) -> None:
    program = lua_program(config, r, backend)
    if program is not None:
        per_filter[LUA_FILTER].Pack(lua_pb2.LuaPerRoute(source_code=base_pb2.DataSource(inline_string=program)))


def _match(m: route_components_pb2.RouteMatch, regex: str | None) -> None:
    if regex is None:
        m.prefix = ""
    else:
        m.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=regex))


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d
