"""The backend layer's one exception root and its kinds.

Transport exceptions (http1, grpc, onnxruntime) are translated into these at
the edge of this layer; nothing above it sees a library's exception. What each
becomes at the ingress (HTTP status, gRPC code, error kind, retryable) is one
row of :mod:`isthmus.gateway.error_table`.
"""

from __future__ import annotations


class BackendError(Exception):
    """A backend could not answer."""

    #: Whether the route's fallback backend may answer instead.
    fallback_ok = True

    def __init__(self, backend: str, detail: str):
        self.backend = backend
        self.detail = detail
        super().__init__(f"backend '{backend}' {self.describe()}: {detail}")

    def describe(self) -> str:
        return "failed"


class BackendUnavailable(BackendError):
    """Could not connect, or the connection dropped: 503."""

    def describe(self) -> str:
        return "is unavailable"


class BackendTimeout(BackendError):
    """No answer in time: 504."""

    def describe(self) -> str:
        return "timed out"


class BackendFailed(BackendError):
    """The backend answered 5xx or something undecodable: 502. ``upstream_status`` is the
    backend's own HTTP status when it answered one that was not 2xx."""

    def __init__(self, backend: str, detail: str, upstream_status: int | None = None):
        self.upstream_status = upstream_status
        super().__init__(backend, detail)


class BackendRejected(BackendError):
    """The backend refused the request as invalid (4xx, ``status``): the app's fault, so no fallback."""

    fallback_ok = False

    def __init__(self, backend: str, detail: str, status: int):
        self.status = status
        super().__init__(backend, detail)

    def describe(self) -> str:
        return "rejected the request"


class BackendUnsupported(BackendError):
    """The backend's protocol has no such call (e.g. TF Serving's Classify on a KServe backend): 501,
    UNIMPLEMENTED over gRPC. The app's request cannot be served by this route, so no fallback."""
    fallback_ok = False

    def describe(self) -> str:
        return "cannot serve this request"
