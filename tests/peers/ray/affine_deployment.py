"""The Ray Serve deployment of the ray peer: V1-style JSON, ``x * 2 + offset`` in FP32.

A module of its own so Ray's workers import the class by name (instead of
unpickling it from ``__main__``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

sys.path.append(str(Path(__file__).resolve().parents[1]))  # appended: never shadows ray
from affine_model import InvalidInstances, affine_instances  # noqa: E402


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
class AffineDeployment:
    def __init__(self, name: str, offset: float) -> None:
        self._name = name
        self._offset = offset

    async def __call__(self, request: Request) -> JSONResponse:
        if request.method == "GET":  # readiness: GET /NAME/-/healthz (any GET under /NAME)
            return JSONResponse({"model": self._name, "ready": True})
        if request.method != "POST":
            return _error(405, f"method {request.method} not allowed")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"body is not JSON: {exc}")
        if not isinstance(body, dict) or set(body) != {"instances"}:
            return _error(400, 'body must be {"instances": [...]}')
        try:
            predictions = affine_instances(body["instances"], self._offset)
        except InvalidInstances as exc:
            return _error(400, str(exc))
        return JSONResponse({"predictions": predictions})
