"""Routing: pick the backend (variant) for one request. Pure, no I/O."""

from isthmus.router.errors import (
    RoutingError,
    UnknownLabel,
    UnknownModel,
    UnknownVariant,
    UnknownVersion,
)
from isthmus.router.table import Decision, Route, RouteTable, Variant

__all__ = [
    "Decision",
    "Route",
    "RouteTable",
    "RoutingError",
    "UnknownLabel",
    "UnknownModel",
    "UnknownVariant",
    "UnknownVersion",
    "Variant",
]
