"""The xDS subpackage's one exception root."""

from __future__ import annotations


class XdsError(Exception):
    """Root of every error raised by ``isthmus.xds``."""


class InconsistentSnapshot(XdsError):
    """A snapshot names a resource it does not hold (an RDS no LDS names, an EDS no CDS names, ...)."""


class ResourceError(XdsError):
    """xDS resources that cannot be turned back into an Isthmus config; the message names the resource."""
