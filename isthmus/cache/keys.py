"""Cache keys: a hash of the canonical request, never the payload itself.

Two requests share a key exactly when the same variant would compute the
same answer for them: same public model, resolved backend and version,
tenant, parameters, requested outputs, and tensors equal *as tensors* —
JSON key order, whitespace and number spelling (``1`` vs ``1.0`` for FP32)
do not matter, because tensor data is hashed as the bytes of its declared
datatype.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import orjson

from isthmus.codecs import InferRequest

KEY_PREFIX = "isthmus:v1:"


def request_key(
    request: InferRequest,
    *,
    model: str,
    backend: str,
    version: str | None,
    tenant: str | None,
) -> str:
    h = hashlib.blake2b(digest_size=20, person=b"isthmus-cache")
    h.update(_canonical({"m": model, "b": backend, "v": version, "t": tenant, "p": request.parameters,
                         "o": sorted(request.outputs)}))
    if request.inputs is not None:
        for t in sorted(request.inputs, key=lambda t: t.name):
            h.update(_canonical({"n": t.name, "d": t.datatype, "s": list(t.shape), "p": t.parameters}))
            if t.data.dtype.kind == "O":  # BYTES: length-prefixed elements
                for v in t.data.reshape(-1):
                    h.update(len(v).to_bytes(8, "little"))
                    h.update(v)
            else:
                h.update(t.data.tobytes())
    else:
        h.update(b"instances")
        h.update(_canonical(request.instances))
    return KEY_PREFIX + h.hexdigest()


def _canonical(value: Any) -> bytes:
    """JSON with sorted keys and numbers spelled one way (as a float when the float is exact)."""
    return orjson.dumps(_normalise(value), option=orjson.OPT_SORT_KEYS)


def _normalise(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        # 1 and 1.0 are one number; 2**53+1 is not 2**53 (a seed, an id): keep ints a float cannot hold
        if not -(2**63) <= value < 2**64:  # beyond JSON parsers and orjson: never from a request body
            return {"\u0000int": str(value)}
        as_float = float(value)
        return as_float if int(as_float) == value else value
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return str(value)
