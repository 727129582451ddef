"""The admin API: /ready, /live, /metrics and /config_dump on their own port (docs/observability.md)."""

from isthmus.admin.base import AdminSources, Readiness, Scrape
from isthmus.admin.redact import REDACTED, redact, redact_url
from isthmus.admin.server import DEFAULT_ADDRESS, AdminBindError, AdminServer, running_admin
from isthmus.admin.sources import GatewaySources

__all__ = [
    "DEFAULT_ADDRESS",
    "REDACTED",
    "AdminBindError",
    "AdminServer",
    "AdminSources",
    "GatewaySources",
    "Readiness",
    "Scrape",
    "redact",
    "redact_url",
    "running_admin",
]
