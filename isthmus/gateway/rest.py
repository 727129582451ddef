"""REST handlers: KServe V1 and Open Inference Protocol V2 over the shared data plane."""

from __future__ import annotations

from typing import Any, Callable

import orjson

from isthmus import __version__
from isthmus.backends import BackendFailed
from isthmus.codecs import CodecError, v2, v2_binary
from isthmus.codecs.convert import answer_id, response_v2_outputs
from isthmus.codecs.tensors import BinaryOutputs
from isthmus.gateway.compression import compressed
from isthmus.gateway.dataplane import Answer, DataPlane
from isthmus.gateway.extensions import REST_EXTENSIONS
from isthmus.gateway.headers import BACKEND_HEADER, CACHE_HEADER
from isthmus.gateway.http_types import Request, Response
from isthmus.gateway.identity import subject_of_der
from isthmus.gateway.request_meta import RequestMeta, request_meta
from isthmus.gateway.rest_extensions import (
    all_stats,
    explain_v1,
    live_v1,
    model_config,
    model_stats,
    models_v1,
    repository_index,
)
from isthmus.gateway.routes import Match

Handler = Callable[[DataPlane, Request, Match, str], Any]
BINARY_HEADER = "Inference-Header-Content-Length"  # an answer's JSON length when binary outputs follow it


def _json(doc: object, status: int = 200) -> Response:
    return Response(status, orjson.dumps(doc))


async def server_metadata(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json({"name": "isthmus", "version": __version__, "extensions": list(REST_EXTENSIONS)})


async def live(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json({"live": True})


async def ready(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    ok = dp.configured
    return _json({"ready": ok}, 200 if ok else 503)


async def model_metadata(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json(await dp.model_metadata(match.model, match.version))


async def model_ready(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    ok = await dp.model_ready(match.model, match.version)
    return _json({"name": match.model, "ready": ok}, 200 if ok else 503)


async def infer_v2(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    model = match.model
    dp.route(model)  # an unknown model is a 404 whatever the body
    header_length = dict.get(request.headers, v2_binary.HEADER)  # names are stored lower-case
    body = await request.read()
    if header_length is None:
        infer_request = v2.decode_request(body)
    else:
        infer_request = v2_binary.decode_request(body, header_length)
    answer = await dp.infer(infer_request, rest_meta(dp, request, model, rid, match.version))
    rid_out = answer_id(infer_request.id, answer.response, answer.cache == "hit")
    binary = infer_request.binary_outputs
    if binary is not None:
        return compressed(request.headers, _binary_answer(answer, binary, model, rid_out))
    outputs = _translated(answer, response_v2_outputs)
    out = v2.encode_response_doc(outputs, model, answer.version, rid_out, answer.response.parameters)
    return compressed(request.headers, _answered(out, answer))


def _binary_answer(answer: Answer, binary: BinaryOutputs, model: str, rid_out: str | None) -> Response:
    """The answer with the outputs the app asked for in binary (the binary tensor data extension)."""
    out, json_length = _translated(
        answer, lambda r: v2_binary.encode_response(r, binary, model, answer.version, rid_out)
    )
    response = _answered(out, answer)
    if json_length is not None:
        response.headers[BINARY_HEADER] = str(json_length)
        response.content_type = v2_binary.CONTENT_TYPE
    return response


# KServe V1's :predict and GET /v1/models/{m} are TF Serving's too: isthmus.gateway.rest_tfserving
# answers them (isthmus.gateway.endpoints has every handler).
HANDLERS: dict[str, Handler] = {
    "infer_v2": infer_v2,
    "model_ready": model_ready,
    "model_metadata": model_metadata,
    "live": live,
    "ready": ready,
    "server_metadata": server_metadata,
    # extensions (isthmus.gateway.rest_extensions)
    "model_config": model_config,
    "model_stats": model_stats,
    "all_stats": all_stats,
    "repository_index": repository_index,
    "explain_v1": explain_v1,
    "models_v1": models_v1,
    "live_v1": live_v1,
}


def _translated(answer: Answer, convert: Callable[[Any], Any]) -> Any:
    """Translate a backend's answer to the app's dialect; failing that is the backend's fault."""
    try:
        return convert(answer.response)
    except CodecError as exc:
        raise BackendFailed(answer.backend, f"answer cannot be translated: {exc}") from None


def _answered(body: bytes, answer: Answer) -> Response:
    return Response(200, body, {BACKEND_HEADER: answer.backend, CACHE_HEADER: answer.cache})


def rest_meta(
    dp: DataPlane, request: Request, model: str, rid: str, version: str | None, variant: str | None = None
) -> RequestMeta:
    """The request's metadata (:mod:`isthmus.gateway.request_meta`), read from its headers once."""
    tenant_header = dp.tenant_header
    identity = client_identity(request) if tenant_header is None else None
    return request_meta(request.headers, model, rid, version, variant, identity, tenant_header)


def client_identity(request: Request) -> str | None:
    """The verified client certificate's subject under mTLS (the default cache tenant), else None;
    spelled as the gRPC listener spells it (:mod:`isthmus.gateway.identity`)."""
    transport = request.transport
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    return subject_of_der(der) if der else None
