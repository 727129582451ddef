"""What a request asks of the data plane besides its payload, read from its headers once, at the edge.

Every ingress (REST V2/V1/TF Serving, gRPC V2/TF Serving, :explain, Classify/Regress) builds one
:class:`RequestMeta` with :func:`request_meta`; the data plane reads it and never parses a header:

- ``cache-control`` -> ``no_cache`` (skip the lookup) and ``no_store`` (skip the cache entirely);
- the tenant: the configured tenant header's value when one is configured (``cache.tenant_header``),
  else the verified client certificate's identity (mTLS), else None;
- ``traceparent`` (and ``tracestate``) -> ``trace``: the trace headers forwarded to the backend;
- the version, or the variant pinned by name (a TF Serving version label);
- the client's deadline (gRPC), the request id.

The route's sticky and override headers are named by the route's config, so the router reads them
from ``headers`` when it decides (:meth:`isthmus.router.Route.decide`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from isthmus.telemetry.propagation import TRACEPARENT, passthrough

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class RequestMeta:
    """Treated as immutable. A plain class with slots and its own ``__init__`` rather than a
    dataclass: one is built per request, and a dataclass's generated ``__init__`` stays Python
    code in the compiled build (about 0.2 us), where this one is compiled."""

    __slots__ = (
        "model", "request_id", "headers", "trace", "version", "variant", "tenant", "no_cache", "no_store", "deadline",
    )  # fmt: skip

    def __init__(
        self,
        model: str,
        request_id: str,
        headers: Mapping[str, str],
        trace: Mapping[str, str] = _NO_HEADERS,
        version: str | None = None,
        variant: str | None = None,
        tenant: str | None = None,
        no_cache: bool = False,
        no_store: bool = False,
        deadline: float | None = None,
    ) -> None:
        self.model = model
        self.request_id = request_id
        #: the request's headers (lower-case names): the router reads the route's sticky/override headers
        self.headers = headers
        #: the trace headers forwarded to the backend as they came (tracing on: replaced by the gateway's span)
        self.trace = trace
        self.version = version
        #: a variant pinned by name (a TF Serving version label naming a variant)
        self.variant = variant
        self.tenant = tenant
        self.no_cache = no_cache
        self.no_store = no_store
        #: seconds the client gives the whole request (gRPC deadlines), None: none
        self.deadline = deadline

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name != "headers")
        return f"RequestMeta({fields})"


def request_meta(
    headers: dict[str, str],
    model: str,
    request_id: str,
    version: str | None = None,
    variant: str | None = None,
    identity: str | None = None,
    tenant_header: str | None = None,
    deadline: float | None = None,
) -> RequestMeta:
    """The request's metadata. ``headers``: a dict with lower-case names (the ingresses'
    :class:`isthmus.gateway.http_types.Headers`), read with ``dict.get`` (no case folding: cheaper);
    ``identity``: the client certificate's (mTLS), the tenant when no ``tenant_header`` is configured."""
    get = dict.get
    directives = get(headers, "cache-control")
    no_cache = no_store = False
    if directives is not None:
        directives = directives.lower()
        no_store, no_cache = "no-store" in directives, "no-cache" in directives
    tenant = (get(headers, tenant_header.lower()) or None) if tenant_header is not None else identity
    traceparent = get(headers, TRACEPARENT)
    trace = _NO_HEADERS if traceparent is None else passthrough(headers, traceparent)
    return RequestMeta(model, request_id, headers, trace, version, variant, tenant, no_cache, no_store, deadline)
