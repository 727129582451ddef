"""Translation of every layer's exceptions into a gRPC status code and message (the gRPC edge).

The gRPC twin of :mod:`isthmus.gateway.errors`:

    CodecError, RoutingError, BackendRejected  -> INVALID_ARGUMENT (the app's request is wrong)
    UnknownModel, UnknownVersion, backend 404  -> NOT_FOUND
    BackendUnavailable                         -> UNAVAILABLE      (REST 503)
    BackendTimeout, AppDeadlineExceeded        -> DEADLINE_EXCEEDED (REST 504)
    BackendFailed (answered an error or junk)  -> INTERNAL         (REST 502)
    MetadataUnknown                            -> UNIMPLEMENTED (501) / UNAVAILABLE (503)
    BackendUnsupported (no such call)          -> UNIMPLEMENTED    (REST 501)

Backend messages name the backend (``backend 'x' is unavailable: ...``).
"""

from __future__ import annotations

import grpc

from isthmus.backends import BackendError, BackendRejected, BackendTimeout, BackendUnavailable
from isthmus.backends.errors import BackendUnsupported
from isthmus.codecs import CodecError
from isthmus.gateway.metadata import MetadataUnknown
from isthmus.router import RoutingError, UnknownModel, UnknownVersion


class AppDeadlineExceeded(Exception):
    """The client's own gRPC deadline passed while the gateway was still waiting for an answer."""


def grpc_status(exc: Exception) -> tuple[grpc.StatusCode, str] | None:
    """The status and message for a known exception, or None for a bug."""
    message = str(exc)
    if isinstance(exc, BackendRejected):
        return (grpc.StatusCode.NOT_FOUND if exc.status == 404 else grpc.StatusCode.INVALID_ARGUMENT), message
    if isinstance(exc, BackendUnavailable):
        return grpc.StatusCode.UNAVAILABLE, message
    if isinstance(exc, BackendUnsupported):
        return grpc.StatusCode.UNIMPLEMENTED, message
    if isinstance(exc, BackendTimeout | AppDeadlineExceeded):
        return grpc.StatusCode.DEADLINE_EXCEEDED, message
    if isinstance(exc, BackendError):
        return grpc.StatusCode.INTERNAL, message
    if isinstance(exc, CodecError):
        return grpc.StatusCode.INVALID_ARGUMENT, message
    if isinstance(exc, UnknownModel | UnknownVersion):
        return grpc.StatusCode.NOT_FOUND, message
    if isinstance(exc, RoutingError):
        return grpc.StatusCode.INVALID_ARGUMENT, message
    if isinstance(exc, MetadataUnknown):
        return (grpc.StatusCode.UNAVAILABLE if exc.status == 503 else grpc.StatusCode.UNIMPLEMENTED), message
    return None
