"""Clients for model servers; one interface (:class:`Backend`) for all of them."""

from isthmus.backends.base import Backend, CallContext
from isthmus.backends.errors import (
    BackendError,
    BackendFailed,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    BackendUnsupported,
)
from isthmus.backends.factory import build_backend, build_backends

__all__ = [
    "Backend",
    "BackendError",
    "BackendFailed",
    "BackendRejected",
    "BackendTimeout",
    "BackendUnavailable",
    "BackendUnsupported",
    "CallContext",
    "build_backend",
    "build_backends",
]
