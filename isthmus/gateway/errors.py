"""Translation of every layer's exceptions into an HTTP status and message (the ingress edge)."""

from __future__ import annotations

from isthmus.backends import BackendError
from isthmus.codecs import CodecError
from isthmus.gateway.metadata import MetadataUnknown
from isthmus.router import RoutingError, UnknownModel, UnknownVersion


def http_status(exc: Exception) -> int | None:
    """The status for a known exception, or None for a bug."""
    if isinstance(exc, BackendError):
        return exc.status
    if isinstance(exc, CodecError):
        return 400
    if isinstance(exc, UnknownModel | UnknownVersion):
        return 404
    if isinstance(exc, RoutingError):
        return 400
    if isinstance(exc, MetadataUnknown):
        return exc.status
    return None
