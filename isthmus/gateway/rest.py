"""REST handlers: KServe V1 and Open Inference Protocol V2 over the shared data plane."""

from __future__ import annotations

import orjson
from aiohttp import web

from isthmus import __version__
from isthmus.backends import BackendFailed
from isthmus.codecs import CodecError, v1, v2
from isthmus.codecs.convert import response_predictions, response_tensors
from isthmus.gateway.dataplane import Answer
from isthmus.gateway.keys import BACKEND_HEADER, DATAPLANE, REQUEST_ID

JSON = "application/json"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2", server_metadata)
    app.router.add_get("/v2/health/live", live)
    app.router.add_get("/v2/health/ready", ready)
    app.router.add_get("/v2/models/{model}", model_metadata)
    app.router.add_get("/v2/models/{model}/versions/{version}", model_metadata)
    app.router.add_get("/v2/models/{model}/ready", model_ready)
    app.router.add_get("/v2/models/{model}/versions/{version}/ready", model_ready)
    app.router.add_post("/v2/models/{model}/infer", infer_v2)
    app.router.add_post("/v2/models/{model}/versions/{version}/infer", infer_v2)
    app.router.add_post("/v1/models/{model:[^/:]+}:predict", predict_v1)
    app.router.add_get("/v1/models/{model:[^/:]+}", model_ready_v1)


def _json(doc: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(doc), content_type=JSON)


async def server_metadata(request: web.Request) -> web.Response:
    return _json({"name": "isthmus", "version": __version__, "extensions": []})


async def live(request: web.Request) -> web.Response:
    return _json({"live": True})


async def ready(request: web.Request) -> web.Response:
    return _json({"ready": True})


async def model_metadata(request: web.Request) -> web.Response:
    dp = request.app[DATAPLANE]
    return _json(await dp.model_metadata(request.match_info["model"], request.match_info.get("version")))


async def model_ready(request: web.Request) -> web.Response:
    dp = request.app[DATAPLANE]
    model = request.match_info["model"]
    ok = await dp.model_ready(model, request.match_info.get("version"))
    return _json({"name": model, "ready": ok}, 200 if ok else 503)


async def model_ready_v1(request: web.Request) -> web.Response:
    return await model_ready(request)


async def infer_v2(request: web.Request) -> web.Response:
    if "inference-header-content-length" in request.headers:
        raise CodecError("the binary tensor data extension (Inference-Header-Content-Length) is not supported")
    model = request.match_info["model"]
    request.app[DATAPLANE].state.routes.route(model)  # an unknown model is a 404 whatever the body
    infer_request = v2.decode_request(await request.read())
    answer = await request.app[DATAPLANE].infer(
        model, request.match_info.get("version"), infer_request, request.headers, request[REQUEST_ID]
    )
    outputs = _translated(answer, response_tensors)
    out = v2.encode_response(outputs, model, answer.version, infer_request.id, answer.response.parameters)
    return _answered(out, answer)


async def predict_v1(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    request.app[DATAPLANE].state.routes.route(model)
    infer_request = v1.decode_request(await request.read())
    answer = await request.app[DATAPLANE].infer(
        model, None, infer_request, request.headers, request[REQUEST_ID]
    )
    return _answered(v1.encode_response(_translated(answer, response_predictions)), answer)


def _translated(answer: Answer, convert):  # type: ignore[no-untyped-def]
    """Translate a backend's answer to the app's dialect; failing that is the backend's fault."""
    try:
        return convert(answer.response)
    except CodecError as exc:
        raise BackendFailed(answer.backend, f"answer cannot be translated: {exc}") from None


def _answered(body: bytes, answer: Answer) -> web.Response:
    resp = web.Response(body=body, content_type=JSON)
    resp.headers[BACKEND_HEADER] = answer.backend
    return resp
