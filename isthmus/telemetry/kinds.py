"""Label values taken from requests: the ``kind`` of ``isthmus.request.errors`` (what went wrong,
from the exception) and the ``model`` of every request metric (bounded to the configured routes)."""

from __future__ import annotations

from typing import Container

from isthmus.backends import BackendError
from isthmus.codecs import CodecError
from isthmus.router import RoutingError, UnknownModel, UnknownVersion

#: The ``model`` label of a request naming no configured model.
UNKNOWN_MODEL = "-"


def model_label(model: str, routes: Container[str]) -> str:
    """``model`` when it is a configured route, else :data:`UNKNOWN_MODEL`: a name an app made up
    never becomes a label value (series stay bounded)."""
    return model if model in routes else UNKNOWN_MODEL


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
