"""A TensorFlow Serving stand-in implementing its published REST API.

TF Serving has no server binary on the registries this project can use, so
the TF Serving client is tested against this server, written from the REST
API documentation (tensorflow.org/tfx/serving/api_rest): model status,
metadata, and ``:predict`` in row (``instances``) and columnar (``inputs``)
formats, errors as ``{"error": "..."}``. The "model" computes ``x*2+offset``
on every named input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from aiohttp import web

MODEL_KEY = web.AppKey("model", str)
OFFSET_KEY = web.AppKey("offset", float)
VERSION = "1"


def make_app(model: str, offset: float = 0.0) -> web.Application:
    app = web.Application()
    app[MODEL_KEY] = model
    app[OFFSET_KEY] = offset
    app.router.add_get("/v1/models/{name}", status)
    app.router.add_get("/v1/models/{name}/versions/{version}", status)
    app.router.add_get("/v1/models/{name}/metadata", metadata)
    app.router.add_post("/v1/models/{name:[^/:]+}:predict", predict)
    app.router.add_post("/v1/models/{name}/versions/{version:[^/:]+}:predict", predict)
    return app


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _check(request: web.Request) -> web.Response | None:
    if request.match_info["name"] != request.app[MODEL_KEY]:
        return _error(404, f"Servable not found for request: Latest({request.match_info['name']})")
    if request.match_info.get("version", VERSION) != VERSION:
        return _error(404, f"Servable not found for request: Specific({request.match_info['name']}, {request.match_info['version']})")
    return None


async def status(request: web.Request) -> web.Response:
    return _check(request) or web.json_response(
        {"model_version_status": [{"version": VERSION, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    )


async def metadata(request: web.Request) -> web.Response:
    return _check(request) or web.json_response({"model_spec": {"name": request.app[MODEL_KEY], "version": VERSION}})


async def predict(request: web.Request) -> web.Response:
    if (bad := _check(request)) is not None:
        return bad
    try:
        doc = await request.json()
    except ValueError:
        return _error(400, "JSON Parse error: Invalid value")
    offset = request.app[OFFSET_KEY]
    try:
        if "instances" in doc:
            return web.json_response({"predictions": [_apply(i, offset) for i in doc["instances"]]})
        if "inputs" in doc:
            return web.json_response({"outputs": _apply(doc["inputs"], offset)})
    except (TypeError, ValueError) as exc:
        return _error(400, f"Failed to process element: {exc}")
    return _error(400, "Missing 'inputs' or 'instances' keys")


def _apply(value: Any, offset: float) -> Any:
    if isinstance(value, dict):
        return {k: _apply(v, offset) for k, v in value.items()}
    arr = np.asarray(value, dtype=np.float32)
    return (arr * 2 + offset).tolist()


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
