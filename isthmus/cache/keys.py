"""Cache keys: a hash of the canonical request, never the payload itself.

Two requests share a key exactly when the same variant would compute the
same answer for them: same public model, resolved backend and version,
tenant, request parameters, requested outputs with their parameters (e.g.
``{"classification": 2}``), the outputs wanted as binary tensor data, the
TF Serving signature, and tensors equal *as tensors*. What only spells the
request differently does not matter: JSON key order, whitespace and number
spelling (``1`` vs ``1.0`` for FP32), tensors sent as JSON or as binary
tensor data (data is hashed as the bytes of its declared datatype), the
wire-form parameters (``binary_data_size``: the decoders drop them) and the
request id. tests/cache/test_keys_property.py checks both directions.
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
    # orjson-encoded strings and lists, so no separator inside a name can make two keys meet
    h.update(orjson.dumps([model, backend, version, tenant, sorted(request.outputs), request.signature_name]))
    h.update(_canonical(request.parameters) if request.parameters else b"{}")
    if request.output_parameters:
        h.update(b"outputs")
        h.update(_canonical(request.output_parameters))
    binary = request.binary_outputs
    if binary is not None:  # canonical already (isthmus.codecs.v2.binary_choice)
        h.update(b"binary")
        h.update(orjson.dumps([binary.default, sorted(binary.named.items())]))
    if request.inputs is not None:
        tensors = request.inputs if len(request.inputs) == 1 else sorted(request.inputs, key=lambda t: t.name)
        for t in tensors:
            h.update(orjson.dumps([t.name, t.datatype, t.data.shape]))
            h.update(_canonical(t.parameters) if t.parameters else b"{}")
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
