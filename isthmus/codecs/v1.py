"""KServe V1 / TF Serving row JSON codec: ``{"instances": [...]}`` -> ``{"predictions": [...]}``.

Ray Serve backends speak the same JSON by default (see docs/protocols.md).
"""

from __future__ import annotations

from typing import Any

import orjson

from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import InferRequest, InferResponse, TensorNaming
from isthmus.codecs.v2 import loads


def decode_request(body: bytes) -> InferRequest:
    doc = loads(body)
    if not isinstance(doc, dict):
        raise CodecError("request body must be a JSON object with an 'instances' list")
    instances = doc.get("instances")
    if not isinstance(instances, list) or not instances:
        raise CodecError("request needs a non-empty 'instances' list")
    params = doc.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise CodecError("'parameters' must be a JSON object")
    return InferRequest(instances=instances, parameters=params or {})


def encode_request(instances: list[Any], extra: dict[str, Any] | None = None) -> bytes:
    doc: dict[str, Any] = dict(extra or {})
    doc["instances"] = instances
    return orjson.dumps(doc)


def decode_response(body: bytes, backend: str, naming: TensorNaming) -> InferResponse:
    doc = loads(body, f"response of backend '{backend}'")
    if not isinstance(doc, dict) or not isinstance(doc.get("predictions"), list):
        raise CodecError(f"response of backend '{backend}' has no 'predictions' list")
    return InferResponse(predictions=doc["predictions"], naming=naming)


def encode_response(predictions: list[Any]) -> bytes:
    return orjson.dumps({"predictions": predictions})
