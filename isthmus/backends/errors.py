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
    """Could not connect, the connection dropped, or the backend said it is unavailable: 503.

    ``sent`` is False when nothing of the request reached the backend (no connection could be
    opened, or gRPC refused the call before sending it): always safe to try elsewhere. ``status``
    is the backend's HTTP status when it answered one (408, 429, 503), ``grpc_code`` the name of
    its gRPC status (``"UNAVAILABLE"``), ``retry_after`` the seconds its ``Retry-After`` asked for.
    """

    def __init__(
        self,
        backend: str,
        detail: str,
        *,
        sent: bool = True,
        status: int | None = None,
        grpc_code: str | None = None,
        retry_after: float | None = None,
    ):
        self.sent = sent
        self.status = status
        self.grpc_code = grpc_code
        self.retry_after = retry_after
        super().__init__(backend, detail)

    def describe(self) -> str:
        return "is unavailable"


class BackendOverloaded(BackendUnavailable):
    """The gateway's own bound for this backend is full (a circuit breaker: requests, pending
    requests, connections or retries): refused at once without a call, 503 with
    ``x-isthmus-overloaded`` (gRPC UNAVAILABLE); the route's fallback may answer. Not the
    endpoint's fault, so outlier detection does not count it."""

    def __init__(self, backend: str, detail: str):
        super().__init__(backend, detail, sent=False)

    def describe(self) -> str:
        return "is overloaded"


class BackendTimeout(BackendError):
    """No answer in time: 504."""

    def describe(self) -> str:
        return "timed out"


class BackendFailed(BackendError):
    """The backend answered 5xx or something undecodable: 502. ``upstream_status`` is the
    backend's own HTTP status when it answered one that was not 2xx."""

    def __init__(
        self, backend: str, detail: str, upstream_status: int | None = None, grpc_code: str | None = None
    ):
        self.upstream_status = upstream_status
        self.grpc_code = grpc_code  # the name of the backend's gRPC status (INTERNAL, RESOURCE_EXHAUSTED ...)
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
