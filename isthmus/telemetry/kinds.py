"""The ``kind`` label of ``isthmus.request.errors``: what went wrong, from the exception."""

from __future__ import annotations

from isthmus.backends import BackendError
from isthmus.codecs import CodecError
from isthmus.router import RoutingError, UnknownModel, UnknownVersion


def error_kind(exc: BaseException) -> str:
    """``backend_<kind>`` (timeout, connect, status, rejected, error), ``bad_request``,
    ``unknown_model``, ``unknown_version``, ``routing``, or ``internal`` (a bug)."""
    if isinstance(exc, BackendError):
        return f"backend_{exc.kind}"
    if isinstance(exc, CodecError):
        return "bad_request"
    if isinstance(exc, UnknownModel):
        return "unknown_model"
    if isinstance(exc, UnknownVersion):
        return "unknown_version"
    if isinstance(exc, RoutingError):
        return "routing"
    return "internal"
