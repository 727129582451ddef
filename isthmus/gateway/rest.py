"""REST handlers: KServe V1 and Open Inference Protocol V2 over the shared data plane."""

from __future__ import annotations

from typing import Any, Callable

import orjson

from isthmus import __version__
from isthmus.backends import BackendFailed
from isthmus.codecs import CodecError, v2
from isthmus.codecs.convert import response_v2_outputs
from isthmus.gateway.dataplane import Answer, DataPlane
from isthmus.gateway.headers import BACKEND_HEADER, CACHE_HEADER
from isthmus.gateway.http_types import Request, Response
from isthmus.gateway.identity import subject_of_der
from isthmus.gateway.routes import Match

Handler = Callable[[DataPlane, Request, Match, str], Any]


def _json(doc: object, status: int = 200) -> Response:
    return Response(status, orjson.dumps(doc))


async def server_metadata(dp: DataPlane, request: Request, match: Match, rid: str) -> Response:
    return _json({"name": "isthmus", "version": __version__, "extensions": []})


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
    if dict.__contains__(request.headers, "inference-header-content-length"):  # names are stored lower-case
        raise CodecError("the binary tensor data extension (Inference-Header-Content-Length) is not supported")
    model = match.model
    dp.state.routes.route(model)  # an unknown model is a 404 whatever the body
    infer_request = v2.decode_request(await request.read())
    answer = await dp.infer(model, match.version, infer_request, request.headers, rid, client_identity(request))
    outputs = _translated(answer, response_v2_outputs)
    out = v2.encode_response_doc(outputs, model, answer.version, infer_request.id, answer.response.parameters)
    return _answered(out, answer)


# KServe V1's :predict and GET /v1/models/{m} are TF Serving's too: isthmus.gateway.rest_tfserving
# answers them (isthmus.gateway.endpoints has every handler).
HANDLERS: dict[str, Handler] = {
    "infer_v2": infer_v2,
    "model_ready": model_ready,
    "model_metadata": model_metadata,
    "live": live,
    "ready": ready,
    "server_metadata": server_metadata,
}


def _translated(answer: Answer, convert: Callable[[Any], Any]) -> Any:
    """Translate a backend's answer to the app's dialect; failing that is the backend's fault."""
    try:
        return convert(answer.response)
    except CodecError as exc:
        raise BackendFailed(answer.backend, f"answer cannot be translated: {exc}") from None


def _answered(body: bytes, answer: Answer) -> Response:
    return Response(200, body, {BACKEND_HEADER: answer.backend, CACHE_HEADER: answer.cache})


def client_identity(request: Request) -> str | None:
    """The verified client certificate's subject under mTLS (the default cache tenant), else None;
    spelled as the gRPC listener spells it (:mod:`isthmus.gateway.identity`)."""
    transport = request.transport
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    return subject_of_der(der) if der else None
