"""Every layer's exceptions as an HTTP status (the REST edge): a column of :mod:`isthmus.gateway.error_table`."""

from __future__ import annotations

from isthmus.gateway.error_table import row_of, status_of


def http_status(exc: Exception) -> int | None:
    """The status for a known exception, or None for a bug."""
    row = row_of(exc)
    return None if row is None else status_of(row, exc)
