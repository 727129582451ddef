"""Answers Envoy gives itself (``direct_response`` routes), in the gateway's shape. Pure.

- ``GET /v2/health/live``, ``/v2/health/ready``, ``/v2`` (server metadata) and KServe V1's
  ``GET /``: Envoy only has the listener once its routes arrived (RDS), so "ready" is true
  whenever it can answer at all;
- an override header naming no variant: 400 with the gateway's message, the header's value
  written by Envoy's formatter (``%REQ(...)%``) into a JSON body it escapes itself (a proxyless
  gRPC client cannot forward such a route: it fails the call UNAVAILABLE, "Matching route has
  inappropriate action", instead of splitting it);
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
    _formatted(route.direct_response, 400, f"{header}: model '{model}' has no variant '{value}' (variants: {known})")


def add_unknown_model_route(vh: route_components_pb2.VirtualHost) -> None:
    route = vh.routes.add(name="unknown-model")
    route.match.safe_regex.regex = "^/v[12]/models/.*$"
    _formatted(route.direct_response, 404, "unknown model: no route for %REQ(:PATH)%")


def _json_body(action: route_components_pb2.DirectResponseAction, status: int, doc: Any) -> None:
    action.status = status
    fmt = action.body_format
    fmt.text_format_source.inline_string = json.dumps(doc, separators=(",", ":"))  # no '%' in these documents
    fmt.content_type = "application/json"


def _formatted(action: route_components_pb2.DirectResponseAction, status: int, error: str) -> None:
    """``{"error": error}``, ``error`` a format string (``%REQ(h)%``); Envoy JSON-escapes the result."""
    action.status = status
    action.body_format.json_format.update({"error": error})
