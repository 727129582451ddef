"""The one error table: every exception that reaches the edge -> (HTTP status, gRPC code, kind, retryable).

Read by the REST edge (:func:`isthmus.gateway.errors.http_status`), the gRPC edge
(:func:`isthmus.gateway.grpc_errors.grpc_status`) and the request telemetry (the ``kind`` label of
``isthmus.request.errors``, handed to telemetry as a string). Adding an error is adding one row.

It lives at the edge, in the gateway layer, because the edge is the only layer that may know
every other layer's exceptions (backends, codecs, router, the gateway's own) and the transports'
codes (grpcio): a bottom module every layer imports could not name them without importing
upwards. Telemetry, a leaf, only ever sees the kind.

The tree (httpx draws its own the same way)::

    BackendError (502, INTERNAL)            backend_error
    ├── BackendUnavailable (503, UNAVAILABLE)      backend_connect   retryable
    │   └── BackendOverloaded (503, UNAVAILABLE)   overloaded  (a circuit breaker of the gateway's own)
    ├── BackendTimeout (504, DEADLINE_EXCEEDED)    backend_timeout
    ├── BackendFailed (502, INTERNAL)              backend_status
    ├── BackendRejected (its 4xx; 404: NOT_FOUND, else INVALID_ARGUMENT)  backend_rejected
    └── BackendUnsupported (501, UNIMPLEMENTED)    backend_unsupported
    CodecError (400, INVALID_ARGUMENT)             bad_request
    RoutingError (400, INVALID_ARGUMENT)           routing
    ├── UnknownModel (404, NOT_FOUND)              unknown_model
    ├── UnknownVersion (404, NOT_FOUND)            unknown_version
    ├── UnknownVariant (400, INVALID_ARGUMENT)     routing
    └── UnknownLabel (400, INVALID_ARGUMENT)       routing
    MetadataUnknown (its 501 / 503: UNIMPLEMENTED / UNAVAILABLE)  unknown_metadata
    AppDeadlineExceeded (504, DEADLINE_EXCEEDED)   internal (as before the table; gRPC only)

``retryable`` is what a retry policy reads: whether sending the same request again (to another
endpoint, or the same one later) can succeed and cannot do harm. Yes only when the backend could
not be reached or said it is unavailable (:class:`BackendUnavailable`: connection refused before
the request was sent, the connection dropped, a 503): an inference has no side effects, and the
failure says nothing of the request. No for a timeout after the request was sent (the backend may
still be computing it: more load on a slow server), a 4xx rejection or a codec error (the request
itself is wrong), a 5xx or undecodable answer (the backend computed and failed), and everything
that is the app's or the gateway's own (routing, the client's deadline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import grpc

from isthmus.backends import BackendError, BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable
from isthmus.backends.errors import BackendOverloaded, BackendUnsupported
from isthmus.codecs import CodecError
from isthmus.gateway.metadata import MetadataUnknown
from isthmus.router import RoutingError, UnknownModel, UnknownVersion
from isthmus.router.errors import UnknownLabel, UnknownVariant

C = grpc.StatusCode


class AppDeadlineExceeded(Exception):
    """The client's own gRPC deadline passed while the gateway was still waiting for an answer."""


@dataclass(frozen=True, slots=True)
class ErrorRow:
    """How the edges answer one exception type.

    ``http``: the status, or None for "the exception's own ``status``" (a backend's 4xx, 501/503);
    ``grpc``: the code, or the code for that status in ``grpc_by_status``; ``kind``: the error
    kind label; ``retryable``: see the module docstring."""

    http: int | None
    grpc: grpc.StatusCode
    kind: str
    retryable: bool = False
    grpc_by_status: Mapping[int, grpc.StatusCode] = field(default_factory=dict)


#: Exact type -> row. Every exception class of every layer's root that can reach the edge has its
#: own row (tests/gateway/test_error_table.py walks the subclasses).
ERRORS: Mapping[type[BaseException], ErrorRow] = {
    BackendError: ErrorRow(502, C.INTERNAL, "backend_error"),
    BackendUnavailable: ErrorRow(503, C.UNAVAILABLE, "backend_connect", retryable=True),
    BackendOverloaded: ErrorRow(503, C.UNAVAILABLE, "overloaded"),
    BackendTimeout: ErrorRow(504, C.DEADLINE_EXCEEDED, "backend_timeout"),
    BackendFailed: ErrorRow(502, C.INTERNAL, "backend_status"),
    BackendRejected: ErrorRow(None, C.INVALID_ARGUMENT, "backend_rejected", grpc_by_status={404: C.NOT_FOUND}),
    BackendUnsupported: ErrorRow(501, C.UNIMPLEMENTED, "backend_unsupported"),
    CodecError: ErrorRow(400, C.INVALID_ARGUMENT, "bad_request"),
    RoutingError: ErrorRow(400, C.INVALID_ARGUMENT, "routing"),
    UnknownModel: ErrorRow(404, C.NOT_FOUND, "unknown_model"),
    UnknownVersion: ErrorRow(404, C.NOT_FOUND, "unknown_version"),
    UnknownVariant: ErrorRow(400, C.INVALID_ARGUMENT, "routing"),
    UnknownLabel: ErrorRow(400, C.INVALID_ARGUMENT, "routing"),
    MetadataUnknown: ErrorRow(None, C.UNIMPLEMENTED, "unknown_metadata", grpc_by_status={503: C.UNAVAILABLE}),
    AppDeadlineExceeded: ErrorRow(504, C.DEADLINE_EXCEEDED, "internal"),
}

#: The kind of an exception with no row: a bug (a 500, INTERNAL).
INTERNAL = "internal"


def row_of(exc: BaseException) -> ErrorRow | None:
    """The row of ``exc``'s class, or of its nearest ancestor that has one (a subclass made
    elsewhere, e.g. in a test); None for a bug."""
    row = ERRORS.get(type(exc))
    if row is not None:
        return row
    for cls in type(exc).__mro__[1:]:
        row = ERRORS.get(cls)
        if row is not None:
            return row
    return None


def status_of(row: ErrorRow, exc: BaseException) -> int:
    """The HTTP status of ``exc`` under ``row``."""
    return row.http if row.http is not None else exc.status  # type: ignore[attr-defined, no-any-return]


def grpc_code_of(row: ErrorRow, exc: BaseException) -> grpc.StatusCode:
    """The gRPC code of ``exc`` under ``row``."""
    if row.grpc_by_status:
        return row.grpc_by_status.get(status_of(row, exc), row.grpc)
    return row.grpc


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label of ``exc`` (``internal`` for a bug)."""
    row = row_of(exc)
    return row.kind if row is not None else INTERNAL


def retryable(exc: BaseException) -> bool:
    """Whether a retry policy may send the request again after ``exc`` (module docstring)."""
    row = row_of(exc)
    return row is not None and row.retryable
