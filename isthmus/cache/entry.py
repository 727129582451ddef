"""What a cache entry holds: a backend's answer and who gave it, as compact bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from isthmus.cache.errors import CacheError
from isthmus.codecs import InferResponse, TensorNaming
from isthmus.codecs.convert import response_v2_outputs


@dataclass(frozen=True, slots=True)
class Entry:
    response: InferResponse
    backend: str
    version: str | None


def encode_entry(entry: Entry) -> bytes:
    r = entry.response
    doc: dict[str, Any] = {"b": entry.backend, "v": entry.version}
    if r.predictions is not None:
        n = r.naming
        doc["pred"] = r.predictions
        doc["naming"] = [n.input_name, n.output_name, n.datatype]
    else:
        doc["out"] = response_v2_outputs(r)
    if r.parameters:
        doc["params"] = dict(r.parameters)
    return orjson.dumps(doc)


def decode_entry(data: bytes) -> Entry:
    """The entry ``data`` encodes; :class:`CacheError` unless it has exactly the shape we write."""
    try:
        doc = orjson.loads(data)
        if not isinstance(doc, dict):
            raise TypeError("not an object")
        params = doc.get("params") or {}
        backend, version = doc["b"], doc["v"]
        if not isinstance(backend, str) or not (version is None or isinstance(version, str)):
            raise TypeError("backend and version must be strings")
        if not isinstance(params, dict):
            raise TypeError("params must be an object")
        if "pred" in doc:
            naming = doc["naming"]
            if not isinstance(doc["pred"], list) or not (
                isinstance(naming, list) and len(naming) == 3 and all(isinstance(n, str) for n in naming)
            ):
                raise TypeError("predictions must be a list, naming three strings")
            response = InferResponse(predictions=doc["pred"], naming=TensorNaming(*naming), parameters=params)
        else:
            outputs = doc["out"]
            if not isinstance(outputs, list) or not all(
                isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("datatype"), str)
                and isinstance(t.get("shape"), list) and "data" in t
                for t in outputs
            ):
                raise TypeError("outputs must be a list of tensors with name, datatype, shape and data")
            response = InferResponse(v2_outputs=outputs, parameters=params)
        return Entry(response, backend, version)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CacheError(f"unreadable cache entry: {exc}") from None
