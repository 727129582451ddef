"""KServe V1 ``:explain`` through the gateway: the route picks a variant as for ``:predict``
(weights, sticky and override headers), and the request goes to that variant's backend if its
protocol has an explainer (kserve-v1: KServe serves ``POST /v1/models/{m}:explain``), else 501
naming the backend and its protocol. Never cached, never coalesced, no fallback: an explanation
is of the variant that was chosen."""

from __future__ import annotations

import orjson

from isthmus.backends import BackendFailed, BackendUnsupported, CallContext
from isthmus.backends.base import Explainer
from isthmus.codecs import CodecError
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.request_meta import RequestMeta


async def explain(dp: DataPlane, body: bytes, meta: RequestMeta) -> tuple[bytes, str]:
    """The explainer's JSON answer and the backend that gave it."""
    state = dp.state  # one generation for the whole request
    model = meta.model
    route = state.routes.route(model)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CodecError("an :explain body must be a JSON object (KServe V1: {\"instances\": [...]})")
    decision = dp._decide(route, None, meta.headers)  # the data plane's routing step (traced when tracing is on)
    backend = state.backends[decision.backend]
    if not isinstance(backend, Explainer):
        protocol = state.backend_configs[decision.backend].protocol
        raise BackendUnsupported(
            decision.backend,
            f":explain of model '{model}' is not supported by protocol '{protocol}' (only kserve-v1 backends explain)",
        )
    ctx = CallContext(model, meta.request_id, meta.trace)
    answer = await backend.explain(body, ctx)
    try:
        orjson.loads(answer)
    except orjson.JSONDecodeError:
        raise BackendFailed(decision.backend, "the explanation is not JSON") from None
    return answer, decision.backend
