"""Clients for model servers; one interface (:class:`Backend`) for all of them."""

from isthmus.backends.base import Backend, CallContext, RemoteBackend
from isthmus.backends.errors import (
    BackendError,
    BackendFailed,
    BackendOverloaded,
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
    "BackendOverloaded",
    "BackendRejected",
    "BackendTimeout",
    "BackendUnavailable",
    "BackendUnsupported",
    "CallContext",
    "RemoteBackend",
    "build_backend",
    "build_backends",
]
