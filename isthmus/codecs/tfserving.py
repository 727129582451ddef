"""TensorFlow Serving REST codec (``:predict``, row and columnar formats), both ways.

Follows TF Serving's published REST API: a request is either row format
``{"instances": [...]}`` or columnar ``{"inputs": ...}``; the answer is
``{"predictions": [...]}`` or ``{"outputs": ...}`` respectively. Used by the
``tfserving`` backend (encode requests, decode answers) and by the ingress
(decode an app's request, which may be KServe V1 too, and answer in its format).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

import numpy as np
import orjson

from isthmus.codecs.arrays import datatype_of, values_to_array
from isthmus.codecs.convert import nested_list, response_tensors, tensors_to_rows
from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import InferRequest, InferResponse, Tensor, TensorNaming
from isthmus.codecs.v2 import loads

Format = Literal["row", "columnar"]


def encode_columnar(inputs: tuple[Tensor, ...], signature: str | None) -> bytes:
    doc: dict[str, Any] = {}
    if signature:
        doc["signature_name"] = signature
    if len(inputs) == 1:
        doc["inputs"] = nested_list(inputs[0])
    else:
        doc["inputs"] = {t.name: nested_list(t) for t in inputs}
    return orjson.dumps(doc)


def encode_row(instances: list[Any], signature: str | None) -> bytes:
    doc: dict[str, Any] = {}
    if signature:
        doc["signature_name"] = signature
    doc["instances"] = instances
    return orjson.dumps(doc)


def decode_response(body: bytes, backend: str, naming: TensorNaming) -> InferResponse:
    doc = loads(body, f"response of backend '{backend}'")
    if not isinstance(doc, dict):
        raise CodecError(f"response of backend '{backend}' is not a JSON object")
    if "error" in doc:
        raise CodecError(f"backend '{backend}' answered an error: {doc['error']}")
    if isinstance(doc.get("predictions"), list):
        return InferResponse(predictions=doc["predictions"], naming=naming)
    if "outputs" in doc:
        outputs = doc["outputs"]
        if isinstance(outputs, dict):
            tensors = tuple(_tensor(name, v, naming, backend) for name, v in outputs.items())
        else:
            tensors = (_tensor(naming.output_name, outputs, naming, backend),)
        return InferResponse(outputs=tensors, naming=naming)
    raise CodecError(f"response of backend '{backend}' has neither 'predictions' nor 'outputs'")


def _tensor(name: str, value: Any, naming: TensorNaming, backend: str) -> Tensor:
    arr = values_to_array(value, naming.datatype, f"backend '{backend}' output '{name}'")
    return Tensor(name, datatype_of(arr, name), arr)



# --- the ingress: an app's :predict request and its answer -------------------------------------


def decode_predict_request(body: bytes) -> tuple[InferRequest, Format]:
    """A KServe V1 / TF Serving ``:predict`` body and its format.

    Row ``instances`` stay as they came (as KServe V1's). Columnar ``inputs``: one unnamed tensor
    (a list) is the same as row instances of one input; an object of named tensors becomes tensors,
    typed from their JSON (strings and ``{"b64": ...}`` BYTES, true/false BOOL, whole numbers INT64,
    any decimal FP32). ``signature_name`` is kept for TF Serving backends.
    """
    doc = loads(body)
    if not isinstance(doc, dict):
        raise CodecError("request body must be a JSON object with 'instances' (row format) or 'inputs' (columnar format)")
    signature = signature_name(doc)
    params = doc.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise CodecError("'parameters' must be a JSON object")
    params = params or {}
    if "inputs" in doc:
        if "instances" in doc:
            raise CodecError("a request has either 'instances' (row format) or 'inputs' (columnar format), not both")
        inputs = doc["inputs"]
        if isinstance(inputs, dict) and not _is_b64(inputs):
            if not inputs:
                raise CodecError("'inputs' is an empty object: name at least one input tensor")
            tensors = tuple(_columnar_tensor(name, value) for name, value in inputs.items())
            return InferRequest(inputs=tensors, parameters=params, signature_name=signature), "columnar"
        if not isinstance(inputs, list) or not inputs:
            raise CodecError("'inputs' must be a non-empty list (one input) or an object of named inputs")
        return InferRequest(instances=inputs, parameters=params, signature_name=signature), "columnar"
    instances = doc.get("instances")
    if not isinstance(instances, list) or not instances:
        raise CodecError("request needs a non-empty 'instances' list (row format) or 'inputs' (columnar format)")
    return InferRequest(instances=instances, parameters=params, signature_name=signature), "row"


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _columnar_tensor(name: str, value: Any) -> Tensor:
    where = f"input '{name}'"
    if not name:
        raise CodecError("'inputs' has an input with an empty name")
    if _has_b64(value):
        flat: list[Any] = []
        shape = _walk(value, flat, where)
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return Tensor(name, "BYTES", arr.reshape(shape))
    try:
        kind = np.asarray(value).dtype.kind
    except ValueError:  # ragged: values_to_array says so
        kind = ""
    numeric = "INT64" if kind in ("i", "u") else "FP32"
    arr = values_to_array(value, numeric, where)
    return Tensor(name, datatype_of(arr, where), arr)


def _has_b64(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return _is_b64(value)


def _walk(value: Any, out: list[Any], where: str) -> tuple[int, ...]:
    """Flatten a nested list of strings / ``{"b64": ...}`` into bytes; its shape (rectangular)."""
    if isinstance(value, list):
        shapes = {_walk(v, out, where) for v in value}
        if len(shapes) > 1:
            raise CodecError(f"{where}: ragged lists cannot be translated to a tensor")
        return (len(value), *(shapes.pop() if shapes else ()))
    if _is_b64(value):
        try:
            out.append(base64.b64decode(value["b64"], validate=True))
        except (binascii.Error, ValueError):
            raise CodecError(f"{where}: 'b64' is not valid base64") from None
    elif isinstance(value, str):
        out.append(value.encode())
    else:
        raise CodecError(f"{where}: a tensor with binary ('b64') values must hold only strings")
    return ()


def encode_predict_response(response: InferResponse, fmt: Format) -> bytes:
    """The answer in the app's format: row -> ``predictions``; columnar -> ``outputs`` (one tensor
    as its nested list, several as an object of them). As in TF Serving, a ``BYTES`` output whose
    name ends in ``_bytes`` is written as ``{"b64": ...}`` values. CodecError: the answer cannot be
    expressed so (e.g. bytes that are not UTF-8 in an output not named ``*_bytes``)."""
    if fmt == "row":
        if response.predictions is not None:
            return orjson.dumps({"predictions": response.predictions})
        return orjson.dumps({"predictions": tensors_to_rows(response_tensors(response), "outputs", _json)})
    tensors = response_tensors(response)
    if len(tensors) == 1:
        return orjson.dumps({"outputs": _json(tensors[0])})
    return orjson.dumps({"outputs": {t.name: _json(t) for t in tensors}})


def _json(t: Tensor) -> Any:
    if t.datatype != "BYTES" or not t.name.endswith("_bytes"):
        return nested_list(t)
    flat = [{"b64": base64.b64encode(v if isinstance(v, bytes) else str(v).encode()).decode()} for v in t.data.reshape(-1)]
    if not t.shape:
        return flat[0]
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(t.shape).tolist()


def signature_name(doc: dict[str, Any]) -> str | None:
    """A TF Serving request body's ``signature_name`` (None when absent or empty), checked to be a string."""
    signature = doc.get("signature_name")
    if signature is not None and not isinstance(signature, str):
        raise CodecError("'signature_name' must be a string")
    return signature or None
