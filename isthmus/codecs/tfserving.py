"""TensorFlow Serving REST codec (``:predict``, row and columnar formats).

Follows TF Serving's published REST API: a request is either row format
``{"instances": [...]}`` or columnar ``{"inputs": ...}``; the answer is
``{"predictions": [...]}`` or ``{"outputs": ...}`` respectively.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from isthmus.codecs.arrays import datatype_of, values_to_array
from isthmus.codecs.convert import nested_list
from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import InferResponse, Tensor, TensorNaming
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

