"""Telemetry: OpenTelemetry metrics and traces, the Prometheus scrape, the access log.

Build one :class:`Telemetry` from ``Config.telemetry`` and pass it down (data plane, ingresses);
:func:`isthmus.telemetry.gauges` adapters export other components' counters at collection time.
See docs/observability.md.
"""

from isthmus.telemetry.telemetry import Telemetry

__all__ = ["Telemetry"]
