"""The modules on the request path that a production build compiles with Cython.

``ISTHMUS_COMPILE=1 pip install .`` (deploy/Dockerfile, ``make bench``) compiles these with
Cython, unchanged: plain Python semantics (``annotation_typing`` off), about 25 % less CPU per
pass-through request (docs/benchmarks.md). A development install (``make demo``, ``make test``,
editable) runs them as Python. Kept free of imports: ``setup.py`` reads it before the package
can be imported.
"""

from __future__ import annotations

import sys

MODULES = (
    "isthmus.gateway.http_server",
    "isthmus.gateway.http_types",
    "isthmus.gateway.middleware",
    "isthmus.gateway.rest",
    "isthmus.gateway.rest_tfserving",
    "isthmus.gateway.endpoints",
    "isthmus.gateway.dataplane",
    "isthmus.gateway.request_meta",
    "isthmus.gateway.routes",
    "isthmus.gateway.headers",
    "isthmus.gateway.errors",
    "isthmus.gateway.error_table",
    "isthmus.gateway.compression",
    "isthmus.http1.connection",
    "isthmus.http1.client",
    "isthmus.http1.deadlines",
    "isthmus.backends.http_transport",
    "isthmus.backends.http_base",
    "isthmus.backends.kserve_v1",
    "isthmus.backends.kserve_v2",
    "isthmus.backends.tfserving_rest",
    "isthmus.backends.ray_serve",
    "isthmus.backends.http_json",
    "isthmus.backends.error_body",
    "isthmus.deadline",
    "isthmus.codecs.v1",
    "isthmus.codecs.v2",
    "isthmus.codecs.v2_binary",
    "isthmus.codecs.tensors",
    "isthmus.codecs.arrays",
    "isthmus.codecs.convert",
    "isthmus.codecs.names",
    "isthmus.codecs.tfserving",
    "isthmus.codecs.jsonmap",
    "isthmus.router.table",
    "isthmus.router.weighted",
    "isthmus.router.sticky",
    "isthmus.cache.keys",
    "isthmus.cache.memory",
    "isthmus.cache.service",
    "isthmus.cache.coalesce",
    "isthmus.cache.redis_tier",
    "isthmus.cache.entry",
    "isthmus.telemetry.request_histogram",
    "isthmus.telemetry.metrics",
    "isthmus.telemetry.propagation",
    "isthmus.gateway.request_telemetry",
    "isthmus.telemetry.tracing",
    "isthmus.telemetry.steps",
    "isthmus.gateway.dataplane_spans",
    "isthmus.cache.spans",
    # gRPC: the V2 ingress, the codecs and both gRPC backends
    "isthmus.gateway.grpc_ingress",
    "isthmus.gateway.grpc_tfserving",
    "isthmus.gateway.tfserving_calls",
    "isthmus.gateway.grpc_errors",
    "isthmus.gateway.identity",
    "isthmus.codecs.v2_grpc",
    "isthmus.codecs.tensorproto",
    "isthmus.backends.grpc_common",
    "isthmus.backends.kserve_v2_grpc",
    "isthmus.backends.tfserving_grpc",
    # the upstream layer's per-try decisions (endpoint state, pick, outlier counts, breakers, retry policy)
    "isthmus.upstream.hosts",
    "isthmus.upstream.balancer",
    "isthmus.upstream.outlier",
    "isthmus.upstream.breakers",
    "isthmus.upstream.retry",
)


def compiled() -> list[str]:
    """The hot-path modules loaded from compiled extensions (imported ones only)."""
    return [
        name
        for name in MODULES
        if (mod := sys.modules.get(name)) is not None and not str(getattr(mod, "__file__", "")).endswith(".py")
    ]
