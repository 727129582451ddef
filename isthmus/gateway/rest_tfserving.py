"""REST handlers for TensorFlow Serving apps (and KServe V1's, which share ``:predict``).

TF Serving's REST API (tensorflow_serving/g3doc/api_rest.md) on the ingress:
``POST /v1/models/{m}[/versions/{n}|/labels/{l}]:predict`` (row ``instances`` or columnar
``inputs``, answered as ``predictions`` or ``outputs``; KServe V1 apps send ``instances`` too),
``:classify`` and ``:regress``, ``GET .../metadata`` (GetModelMetadata's JSON) and
``GET /v1/models/{m}[/versions/{n}|/labels/{l}]`` (the model status, which also keeps KServe V1's
``name`` and ``ready``). Errors are ``{"error": "..."}``, TF Serving's shape too.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from isthmus.codecs import tfserving, tfserving_examples, tfserving_meta
from isthmus.gateway import tfserving_calls
from isthmus.gateway.compression import compressed
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.headers import BACKEND_HEADER
from isthmus.gateway.http_types import Request, Response
from isthmus.gateway.request_meta import request_meta
from isthmus.gateway.rest import _answered, _translated, rest_meta
from isthmus.gateway.routes import Match


async def predict(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    model = match.model
    version, variant = tfserving_calls.resolve(dp.route(model), match.version, match.label)
    infer_request, fmt = tfserving.decode_predict_request(await request.read())
    answer = await dp.infer(infer_request, rest_meta(dp, request, model, rid, version, variant))
    body = _translated(answer, lambda response: tfserving.encode_predict_response(response, fmt))
    return compressed(request.headers, _answered(body, answer))


async def classify(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return await _examples(dp, request, match, rid, "classify", tfserving_examples.encode_classification)


async def regress(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return await _examples(dp, request, match, rid, "regress", tfserving_examples.encode_regression)


async def _examples(
    dp: DataPlane, request: Request, match: Match, rid: str, verb: str, encode: Callable[[Any], bytes]
) -> Response:
    route = dp.route(match.model)  # an unknown model is a 404 whatever the body
    examples = tfserving_examples.decode_request(await request.read())
    version, variant = tfserving_calls.resolve(route, match.version, match.label)
    meta = request_meta(request.headers, match.model, rid, version=version, variant=variant)
    result, backend = await tfserving_calls.examples(dp, verb, examples, meta)
    return Response(200, encode(result), {BACKEND_HEADER: backend})


async def metadata(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    signatures, version = await tfserving_calls.signature_defs(dp, match.model, match.version, match.label)
    return Response(200, orjson.dumps(tfserving_meta.metadata_json(match.model, version, signatures)))


async def model_status(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    """TF Serving's GetModelStatus JSON plus KServe V1's ``name`` and ``ready``; 503 when not ready."""
    versions = await tfserving_calls.version_status(dp, match.model, match.version, match.label)
    ready = any(ok for _, ok in versions)
    doc = {"name": match.model, "ready": ready, **tfserving_meta.status_json(tfserving_meta.status_response(versions))}
    return Response(200 if ready else 503, orjson.dumps(doc))


HANDLERS = {
    "predict_v1": predict,
    "classify_tfs": classify,
    "regress_tfs": regress,
    "metadata_tfs": metadata,
    "model_ready_v1": model_status,
}
