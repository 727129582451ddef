"""Model rename for Envoy: the public URL of a model rewritten to the backend's, per variant. Pure.

An Isthmus gateway calls a backend with the backend's own model name and version
(``backends[].model`` / ``.version``); Envoy forwards the app's path. Envoy can rewrite a path
per **route** (``RouteAction.regex_rewrite``), not per **weighted cluster**, and a weighted split
needs a different path per cluster. So each variant whose path differs carries a tiny Lua
program in its ``ClusterWeight.typed_per_filter_config`` (and an override route in its
``Route.typed_per_filter_config``): Envoy resolves the route, and with it the weighted cluster,
before the Lua filter runs, so the filter sees the chosen cluster's program. The split itself
stays Envoy's ``weighted_clusters`` (exact weights, ``use_hash_policy`` for sticky routes).

Measured alternative (docs/xds.md): one route per variant, each with a cumulative
``runtime_fraction`` and its own ``regex_rewrite``. Envoy 1.40 draws one random value per request
for all routes, so cumulative fractions give the right split (3 variants 50/30/20 measured
52/28/20 over 3,000 requests); but such a split cannot be sticky (the random value is not the
sticky header's hash), and proxyless gRPC draws a new random value per route. Hence Lua.

The URL forms are a table (:data:`FORMS`): a prefix, the path segments after the model that name
a version (dropped, then the backend's version is written when the backend's protocol puts it in
the path), and the backend protocols whose native dialect the form is. A new form (another
dialect's URL) is one more entry. The Lua programs are generated from values only (model names,
versions, lengths), every string escaped byte by byte, and use plain string operations and fixed
Lua patterns; nothing from a request is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from isthmus.config import Config, RouteConfig
from isthmus.config.model import OnnxBackendConfig

LUA_FILTER = "envoy.filters.http.lua"


@dataclass(frozen=True, slots=True)
class UrlForm:
    name: str
    prefix: str
    """The path up to the model name, e.g. ``/v2/models/``."""
    version_segments: tuple[str, ...]
    """Lua patterns (anchored) of segments right after the model that select a version."""
    protocols: Mapping[str, bool]
    """Backend protocols that natively serve this form -> whether their version goes in the path."""


FORMS: tuple[UrlForm, ...] = (
    # Open Inference Protocol V2 REST: /v2/models/M[/versions/V][/infer|/ready|...]
    UrlForm("v2", "/v2/models/", ("^/versions/[^/]+",), {"kserve-v2": True}),
    # KServe V1 and TF Serving REST: /v1/models/M[/versions/V|/labels/L][:predict|/metadata|...]
    UrlForm("v1", "/v1/models/", ("^/versions/[^/:]+", "^/labels/[^/:]+"), {"kserve-v1": False, "tfserving": True}),
)


def native_forms(protocol: str) -> tuple[str, ...]:
    """Names of the URL forms a backend of ``protocol`` answers without translation."""
    return tuple(f.name for f in FORMS if protocol in f.protocols)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a variant's requests go: the backend's model name and version in the path."""

    model: str
    version: str | None


def target(config: Config, route: RouteConfig, backend: str) -> Target | None:
    """The backend's name/version when Envoy must rewrite the public path for it, else None."""
    b = config.backend(backend)
    if isinstance(b, OnnxBackendConfig) or not native_forms(b.protocol):
        return None  # nothing Envoy can reach in its own dialect (docs: "What Envoy honours")
    label = next((v.version for v in route.variants if v.backend == backend), None)
    model = b.model or route.model
    if model == route.model and b.version is None and label is None:
        return None  # the public path is the backend's path
    return Target(model, b.version)


def lua_program(config: Config, route: RouteConfig, backend: str) -> str | None:
    """The ``envoy_on_request`` rewriting ``route``'s public paths for ``backend``, or None."""
    t = target(config, route, backend)
    if t is None:
        return None
    protocol = config.backend(backend).protocol
    lines = ["function envoy_on_request(handle)", "  local headers = handle:headers()",
             '  local path = headers:get(":path")']  # fmt: skip
    for form in FORMS:
        if protocol not in form.protocols:
            continue
        public = form.prefix + route.model
        new = form.prefix + t.model
        if form.protocols[protocol] and t.version is not None:
            new += "/versions/" + t.version
        lines.append(f"  if path:sub(1, {len(public)}) == {_lua_string(public)} then")
        lines.append(f"    local rest = path:sub({len(public) + 1})")
        for pattern in form.version_segments:
            lines.append(f"    rest = rest:gsub({_lua_string(pattern)}, '', 1)")
        lines.append(f'    headers:replace(":path", {_lua_string(new)} .. rest)')
        lines.append("    return")
        lines.append("  end")
    lines.append("end")
    return "\n".join(lines) + "\n"


def _lua_string(s: str) -> str:
    """A Lua string literal of ``s``: safe characters as is, every other byte as ``\\ddd``."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:^[]+ ")
    return '"' + "".join(chr(b) if chr(b) in safe else f"\\{b:03d}" for b in s.encode()) + '"'
