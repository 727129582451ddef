"""Answers Envoy gives itself (``direct_response`` routes), in the gateway's shape. Pure.

- ``GET /v2/health/live``, ``/v2/health/ready``, ``/v2`` (server metadata) and KServe V1's
  ``GET /``: Envoy only has the listener once its routes arrived (RDS), so "ready" is true
  whenever it can answer at all;
- an override header naming no variant: 400 with the gateway's message, the header's value
  written by Envoy's formatter (``%REQ(...)%``) into a JSON body it escapes itself (a proxyless
  gRPC client cannot forward such a route: it fails the call UNAVAILABLE, "Matching route has
  inappropriate action", instead of splitting it);
- a pinned variant of another version than the URL's (400), a version without traffic (404), an
  unknown version (404), as the gateway answers;
- a ``/v2/models/...`` or ``/v1/models/...`` path no route matched: 404 with a JSON error
  (Envoy's own 404 has no body).
"""

from __future__ import annotations

import json
from typing import Any

from envoy.config.route.v3 import route_components_pb2

from isthmus import __version__

SERVER_METADATA = {"name": "isthmus", "version": __version__, "extensions": []}
HEALTH: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("health/live", "/v2/health/live", {"live": True}),
    ("health/ready", "/v2/health/ready", {"ready": True}),
    ("server-metadata", "/v2", SERVER_METADATA),
    ("health/kserve-v1", "/", {"status": "alive"}),
)


def add_health_routes(vh: route_components_pb2.VirtualHost) -> None:
    """The health and server-metadata paths, answered by Envoy (GET and HEAD, like the gateway)."""
    for name, path, doc in HEALTH:
        route = vh.routes.add(name=name)
        route.match.path = path
        method = route.match.headers.add(name=":method")
        method.string_match.safe_regex.regex = "^(GET|HEAD)$"
        _json_body(route.direct_response, 200, doc)


def unknown_variant(route: route_components_pb2.Route, header: str, model: str, variants: list[str]) -> None:
    """``route`` (its path already matched) answers 400 when ``header`` has any non-empty value:
    it follows the routes pinning each known value."""
    h = route.match.headers.add(name=header)
    h.string_match.safe_regex.regex = ".+"
    known = ", ".join(variants)
    value = f"%REQ({header})%" if "%" not in header else "(the header's value)"  # names cannot hold a '%'
    _formatted(route.direct_response, 400,
               f"{_literal(header)}: model '{model}' has no variant '{value}' (variants: {known})")  # fmt: skip


def wrong_version(route: route_components_pb2.Route, backend: str, model: str, has: str | None, asked: str) -> None:
    """400: the override pins a variant of another version than the URL's (the gateway's message)."""
    _formatted(route.direct_response, 400,
               _literal(f"variant '{backend}' of model '{model}' is version '{has}', not '{asked}'"))  # fmt: skip


def no_traffic(route: route_components_pb2.Route, model: str, version: str) -> None:
    """404: every variant of this version has weight 0 (the gateway's message)."""
    _formatted(route.direct_response, 404, _literal(f"version '{version}' of model '{model}' has no variant with traffic"))


def unknown_version(route: route_components_pb2.Route, model: str, versions: list[str]) -> None:
    """404: a version the route does not have (Envoy cannot cut it out of the path: the path is named)."""
    known = _literal(", ".join(versions) or "none")
    _formatted(route.direct_response, 404, f"model '{model}' has no version named in %REQ(:PATH)% (known: {known})")


def add_unknown_model_route(vh: route_components_pb2.VirtualHost) -> None:
    route = vh.routes.add(name="unknown-model")
    route.match.safe_regex.regex = "^/v[12]/models/.*$"
    _formatted(route.direct_response, 404, "unknown model: no route for %REQ(:PATH)%")


def _json_body(action: route_components_pb2.DirectResponseAction, status: int, doc: Any) -> None:
    action.status = status
    fmt = action.body_format
    fmt.text_format_source.inline_string = _literal(json.dumps(doc, separators=(",", ":")))
    fmt.content_type = "application/json"


def _formatted(action: route_components_pb2.DirectResponseAction, status: int, error: str) -> None:
    """``{"error": error}``, ``error`` a format string (``%REQ(h)%``); Envoy JSON-escapes the result."""
    action.status = status
    action.body_format.json_format.update({"error": error})


def _literal(text: str) -> str:
    """``text`` in an Envoy format string: ``%`` written ``%%`` (measured with Envoy 1.40)."""
    return text.replace("%", "%%")
