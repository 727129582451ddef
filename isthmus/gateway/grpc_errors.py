"""Every layer's exceptions as a gRPC status code and message (the gRPC edge): a column of
:mod:`isthmus.gateway.error_table`, the twin of :mod:`isthmus.gateway.errors`.

Backend messages name the backend (``backend 'x' is unavailable: ...``).
"""

from __future__ import annotations

import grpc

from isthmus.gateway.error_table import AppDeadlineExceeded, grpc_code_of, row_of

__all__ = ["AppDeadlineExceeded", "grpc_status"]


def grpc_status(exc: Exception) -> tuple[grpc.StatusCode, str] | None:
    """The status and message for a known exception, or None for a bug."""
    row = row_of(exc)
    return None if row is None else (grpc_code_of(row, exc), str(exc))
