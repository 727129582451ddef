"""Translation between the tensor form (V2) and the instance form (V1-style JSON).

Pure functions; used by backends to reach their own dialect and by the
ingress to answer in the app's dialect.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from isthmus.codecs.arrays import array_to_json, datatype_of, values_to_array
from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import InferRequest, InferResponse, Tensor, TensorNaming
from isthmus.codecs.v2 import decode_tensor, encode_tensor


def request_tensors(request: InferRequest, naming: TensorNaming) -> tuple[Tensor, ...]:
    if request.inputs is not None:
        return request.inputs
    instances = request.instances
    if instances and isinstance(instances[0], dict):  # TF Serving's named rows: one tensor per name
        return rows_to_tensors(instances, naming.datatype, "instances")
    arr = values_to_array(instances, naming.datatype, "instances")
    return (Tensor(naming.input_name, datatype_of(arr, "instances"), arr),)


def request_instances(request: InferRequest) -> list[Any]:
    if request.instances is not None:
        return request.instances
    return tensors_to_rows(request.inputs or (), "inputs")


def response_tensors(response: InferResponse) -> tuple[Tensor, ...]:
    if response.outputs is not None:
        return response.outputs
    if response.v2_outputs is not None:
        return tuple(decode_tensor(t, "outputs", i) for i, t in enumerate(response.v2_outputs))
    preds = response.predictions or []
    naming = response.naming
    if preds and all(isinstance(p, dict) for p in preds):
        return rows_to_tensors(preds, naming.datatype, "predictions")
    arr = values_to_array(preds, naming.datatype, "predictions")
    return (Tensor(naming.output_name, datatype_of(arr, naming.output_name), arr),)


def rows_to_tensors(rows: list[Any], datatype: str, where: str) -> tuple[Tensor, ...]:
    """Objects with the same keys (TF Serving's row format) -> one tensor per key, the rows stacked."""
    names = list(rows[0]) if isinstance(rows[0], dict) else []
    if not names or any(not isinstance(r, dict) or list(r) != names for r in rows):
        raise CodecError(f"{where} are objects with differing keys and cannot form tensors")
    out = []
    for name in names:
        arr = values_to_array([r[name] for r in rows], datatype, f"{where} key '{name}'")
        out.append(Tensor(name, datatype_of(arr, name), arr))
    return tuple(out)


def response_v2_outputs(response: InferResponse) -> list[dict[str, Any]]:
    """The answer as V2 JSON outputs: a V2 backend's verbatim, anything else encoded."""
    if response.v2_outputs is not None:
        return response.v2_outputs
    return [encode_tensor(t) for t in response_tensors(response)]


def answer_id(app_id: str | None, response: InferResponse, cached: bool) -> str | None:
    """The ``id`` of the app's answer: the app's own when it sent one (the protocol requires it back),
    else the id the backend gave the call that answered this request, if any (KServe and MLServer
    generate one: it finds the call in their logs). A cache hit made no call, so it has no backend id."""
    if app_id is not None:
        return app_id
    return None if cached else response.id


def response_predictions(response: InferResponse) -> list[Any]:
    if response.predictions is not None:
        return response.predictions
    return tensors_to_rows(response_tensors(response), "outputs")


def tensors_to_rows(
    tensors: tuple[Tensor, ...], where: str, as_json: Callable[[Tensor], Any] | None = None
) -> list[Any]:
    """One tensor -> its nested list; several -> one object per row (TF Serving row format).
    ``as_json`` turns one tensor into its nested list (default :func:`nested_list`)."""
    if not tensors:
        raise CodecError(f"no {where} to translate")
    if as_json is None:
        as_json = nested_list
    if len(tensors) == 1:
        return as_json(tensors[0])
    batch = {t.shape[0] if t.shape else None for t in tensors}
    if len(batch) != 1 or None in batch:
        raise CodecError(
            f"{where} {', '.join(t.name for t in tensors)} do not share a first (batch) dimension, "
            "so they cannot be sent as rows"
        )
    columns = {t.name: as_json(t) for t in tensors}
    return [{name: col[i] for name, col in columns.items()} for i in range(batch.pop())]


def nested_list(t: Tensor) -> Any:
    if t.data.dtype.kind == "O":
        flat = array_to_json(t.data)  # bytes that are not UTF-8: CodecError (not a UnicodeDecodeError)
        if not t.shape:
            return flat[0]
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(t.shape).tolist()
    return t.data.tolist()
