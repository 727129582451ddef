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
    try:
        doc = orjson.loads(data)
        params = doc.get("params") or {}
        if "pred" in doc:
            response = InferResponse(predictions=doc["pred"], naming=TensorNaming(*doc["naming"]), parameters=params)
        else:
            if not isinstance(doc["out"], list):
                raise TypeError("outputs must be a list")
            response = InferResponse(v2_outputs=doc["out"], parameters=params)
        return Entry(response, str(doc["b"]), doc["v"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CacheError(f"unreadable cache entry: {exc}") from None
