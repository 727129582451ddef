"""Every REST endpoint's handler, by the endpoint names of :mod:`isthmus.gateway.routes`: the Open
Inference Protocol V2 and KServe V1 ones (:mod:`isthmus.gateway.rest`) and TensorFlow Serving's
(:mod:`isthmus.gateway.rest_tfserving`, which also answers KServe V1's ``:predict`` and readiness)."""

from __future__ import annotations

from isthmus.gateway import rest, rest_tfserving

HANDLERS: dict[str, rest.Handler] = {**rest.HANDLERS, **rest_tfserving.HANDLERS}
