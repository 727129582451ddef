"""A TensorFlow Serving stand-in implementing its published REST API.

TF Serving has no server binary on the registries this project can use, so
the TF Serving client is tested against this server, written from the REST
API documentation (tensorflow_serving/g3doc/api_rest.md) and the JSON its
handler writes (tensorflow_serving/model_servers/http_rest_api_handler.cc):
model status, metadata (the SignatureDefs of :mod:`tests.servers.tfserving_model`),
``:predict`` in row (``instances``) and columnar (``inputs``) formats,
``:classify`` and ``:regress`` on ``examples``, versions and version labels,
errors as ``{"error": "..."}``. The "model" computes ``x*2+offset`` on every
named input (``x*3+offset`` with signature ``times_three``); version ``v``
adds ``(v-1)*100`` more, so versions are told apart by their answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aiohttp import web

from tests.servers import tfserving_model as tm

MODEL_KEY = web.AppKey("model", str)
OFFSET_KEY = web.AppKey("offset", float)
VERSIONS_KEY = web.AppKey("versions", tuple)
LABELS_KEY = web.AppKey("labels", dict)
CALLS_KEY = web.AppKey("calls", list)  # (path, request JSON) of every POST
VERSION = "1"
_MODEL = r"{name:[^/:]+}"


def make_app(
    model: str, offset: float = 0.0, versions: tuple[int, ...] = (1,), labels: dict[str, int] | None = None
) -> web.Application:
    app = web.Application()
    app[MODEL_KEY] = model
    app[OFFSET_KEY] = offset
    app[VERSIONS_KEY] = versions
    app[LABELS_KEY] = dict(labels or {})
    app[CALLS_KEY] = []
    for prefix in (f"/v1/models/{_MODEL}", f"/v1/models/{_MODEL}/versions/{{version:[^/:]+}}",
                   f"/v1/models/{_MODEL}/labels/{{label:[^/:]+}}"):  # fmt: skip
        app.router.add_get(prefix, status)
        app.router.add_get(prefix + "/metadata", metadata)
        app.router.add_post(prefix + ":predict", predict)
        app.router.add_post(prefix + ":classify", classify)
        app.router.add_post(prefix + ":regress", regress)
    return app


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def _version(request: web.Request) -> int | None:
    """The version asked for (None: all / the latest); raises _Refused as TF Serving answers."""
    name = request.match_info["name"]
    if name != request.app[MODEL_KEY]:
        raise _Refused(404, f"Servable not found for request: Latest({name})")
    versions = request.app[VERSIONS_KEY]
    if "version" in request.match_info:
        v = request.match_info["version"]
        if not v.isdigit():
            raise _Refused(400, f"Failed to convert version: {v} to numeric.")
        if int(v) not in versions:
            raise _Refused(404, f"Servable not found for request: Specific({name}, {v})")
        return int(v)
    if "label" in request.match_info:
        label = request.match_info["label"]
        if label not in request.app[LABELS_KEY]:
            raise _Refused(400, f"Unrecognized servable version label: {label}")
        return request.app[LABELS_KEY][label]
    return None


async def status(request: web.Request) -> web.Response:
    try:
        asked = _version(request)
    except _Refused as exc:
        return _error(exc.status, exc.message)
    versions = request.app[VERSIONS_KEY] if asked is None else (asked,)
    return web.json_response({"model_version_status": [
        {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}} for v in versions
    ]})  # fmt: skip


async def metadata(request: web.Request) -> web.Response:
    try:
        asked = _version(request)
    except _Refused as exc:
        return _error(exc.status, exc.message)
    version = asked if asked is not None else max(request.app[VERSIONS_KEY])
    spec = {"name": request.app[MODEL_KEY], "signature_name": "", "version": str(version)}
    return web.json_response({"model_spec": spec, "metadata": {"signature_def": tm.signature_defs_json()}})


async def _body(request: web.Request) -> tuple[Any, float]:
    """The request's JSON and the offset of the version it addresses; raises _Refused."""
    asked = _version(request)
    version = asked if asked is not None else max(request.app[VERSIONS_KEY])
    try:
        doc = await request.json()
    except ValueError:
        raise _Refused(400, "JSON Parse error: Invalid value") from None
    request.app[CALLS_KEY].append((request.path, doc))
    if not isinstance(doc, dict):
        raise _Refused(400, "JSON Value: not an object")
    return doc, request.app[OFFSET_KEY] + (version - 1) * 100


async def predict(request: web.Request) -> web.Response:
    try:
        doc, offset = await _body(request)
        signature = tm.check_signature(doc.get("signature_name"), tm.PREDICT)
    except _Refused as exc:
        return _error(exc.status, exc.message)
    except tm.SignatureError as exc:
        return _error(400, str(exc))
    factor = tm.FACTOR[signature]
    try:
        if "instances" in doc and "inputs" in doc:
            return _error(400, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
        if "instances" in doc:
            return web.json_response({"predictions": [_apply(i, factor, offset) for i in doc["instances"]]})
        if "inputs" in doc:
            return web.json_response({"outputs": _apply(doc["inputs"], factor, offset)})
    except (TypeError, ValueError) as exc:
        return _error(400, f"Failed to process element: {exc}")
    return _error(400, "Missing 'inputs' or 'instances' key")


def _apply(value: Any, factor: float, offset: float) -> Any:
    if isinstance(value, dict):
        return {k: _apply(v, factor, offset) for k, v in value.items()}
    arr = np.asarray(value, dtype=np.float32)
    return (arr * factor + offset).tolist()


async def classify(request: web.Request) -> web.Response:
    return await _examples(request, tm.CLASSIFY, lambda x, off: [list(c) for c in tm.classes(x, off)])


async def regress(request: web.Request) -> web.Response:
    return await _examples(request, tm.REGRESS, tm.regression)


async def _examples(request: web.Request, method: str, compute: Any) -> web.Response:
    try:
        doc, offset = await _body(request)
        tm.check_signature(doc.get("signature_name"), method)
    except _Refused as exc:
        return _error(exc.status, exc.message)
    except tm.SignatureError as exc:
        return _error(400, str(exc))
    examples = doc.get("examples")
    if not isinstance(examples, list) or not examples:
        return _error(400, "When method is classify, key 'examples' is expected and was not found")
    context = doc.get("context") or {}
    results = []
    for example in examples:
        merged = {**context, **example} if isinstance(example, dict) else None
        x = merged.get("x") if merged is not None else None
        x = x[0] if isinstance(x, list) and len(x) == 1 else x
        if not isinstance(x, int | float) or isinstance(x, bool):
            return _error(400, "Feature: x (data type: float) is required but could not be found.")
        results.append(compute(float(x), offset))
    return web.json_response({"results": results})


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description="TF Serving REST API stand-in (tests only)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--offset", type=float, default=0.0)
    args = p.parse_args()
    web.run_app(make_app(args.model, args.offset), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
