"""Open Inference Protocol V2 (KServe V2) JSON codec."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

import orjson

from isthmus.codecs.arrays import array_to_json, check_shape, json_to_array
from isthmus.codecs.errors import CodecError
from isthmus.codecs.names import check_name
from isthmus.codecs.tensors import BinaryOutputs, InferRequest, InferResponse, Tensor

_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})
_TENSOR_KEYS = frozenset(("name", "datatype", "shape", "data"))
_ABSENT: Any = object()
# The protocol's optional request fields are absent or typed, never null (open_inference_rest.yaml)
_NO_NULL = " (or left out: null is not allowed)"
# the binary tensor data extension's parameters (isthmus.codecs.v2_binary): they describe the wire
# form, not the answer, so they are taken out of the request the gateway keeps
BINARY_DATA_SIZE = "binary_data_size"  # an input's or output's binary byte count
BINARY_DATA = "binary_data"  # a requested output's: answer it in binary
BINARY_DATA_OUTPUT = "binary_data_output"  # the request's: every output in binary unless it says otherwise


def loads(body: bytes, what: str = "request body") -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"{what} is not valid JSON: {exc}") from None


def decode_request(body: bytes) -> InferRequest:
    doc = loads(body)
    tensors = tuple([decode_tensor(t, "inputs", i) for i, t in enumerate(request_inputs(doc))])
    return build_request(doc, tensors, body)


def request_inputs(doc: Any) -> list[Any]:
    """The ``inputs`` list of a V2 request document, checked to be a non-empty list."""
    if type(doc) is not dict:
        raise CodecError("request body must be a JSON object with an 'inputs' list")
    inputs = doc.get("inputs")
    if type(inputs) is not list or not inputs:
        raise CodecError("request needs a non-empty 'inputs' list")
    return inputs


def build_request(doc: dict[str, Any], tensors: tuple[Tensor, ...], raw: bytes | None) -> InferRequest:
    """The request of a V2 document whose inputs are decoded (from JSON, or from binary tensor data).

    ``raw``: the body, forwarded as is to a V2 backend unless the app asked for binary outputs (a
    backend would then answer in binary too: the request is re-encoded without the wire-form
    parameters instead).
    """
    if len(tensors) > 1:
        names = [t.name for t in tensors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise CodecError(f"duplicate input name(s): {', '.join(dupes)}")
    params = _parameters(doc.get("parameters", _ABSENT), "parameters")
    default_binary = False
    if params and BINARY_DATA_OUTPUT in params:
        default_binary = params[BINARY_DATA_OUTPUT]
        if type(default_binary) is not bool:
            raise CodecError(f"parameter '{BINARY_DATA_OUTPUT}' must be true or false")
        params = {k: v for k, v in params.items() if k != BINARY_DATA_OUTPUT}
        raw = None
    outputs_doc = doc.get("outputs")
    names: tuple[str, ...] = ()
    out_params: Mapping[str, Mapping[str, Any]] = _NO_PARAMS
    binary: Mapping[str, bool] = _NO_PARAMS
    if outputs_doc is not None:
        out_params, binary = {}, {}
        names = _requested_outputs(outputs_doc, out_params, binary)
        if binary:
            raw = None
    return InferRequest(
        inputs=tensors,
        outputs=names,
        parameters=params,
        id=_optional_str(doc.get("id", _ABSENT), "id"),
        raw_v2=raw,
        output_parameters=out_params,
        binary_outputs=binary_choice(default_binary, binary) if default_binary or binary else None,
    )


def binary_choice(default: bool, named: Mapping[str, bool]) -> BinaryOutputs | None:
    """The app's binary-output choice in its one canonical form; None when every output is JSON."""
    named = {n: b for n, b in named.items() if b is not default}
    if not default and not named:
        return None
    return BinaryOutputs(default, named)


def decode_response(body: bytes, backend: str) -> InferResponse:
    doc = loads(body, f"response of backend '{backend}'")
    if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), list):
        raise CodecError(f"response of backend '{backend}' has no 'outputs' list")
    return response_from_doc(doc, f"backend '{backend}'")


def response_from_doc(doc: Mapping[str, Any], who: str) -> InferResponse:
    """Keep a V2 answer's outputs as JSON after a structural check; tensors are decoded only if needed.

    The nulls the protocol does not allow are dropped here, once per backend answer (so the cache
    holds clean outputs too): ``"parameters": null`` in an output (KServe sends it), and parameters
    whose value is null (a parameter is a string, number or boolean). Only an output that has one is
    copied; the others pass as they came. A null ``id`` or ``parameters`` of the answer is as if
    absent. A null (or mistyped) name, datatype, shape or data cannot be repaired: refused.
    """
    outputs = doc["outputs"]
    cleaned = None
    for i, t in enumerate(outputs):
        if type(t) is not dict or not t.keys() >= _TENSOR_KEYS:
            raise CodecError(f"{who}: outputs[{i}] must be an object with name, datatype, shape and data")
        if type(t["name"]) is not str or type(t["datatype"]) is not str or type(t["shape"]) is not list:
            raise CodecError(f"{who}: outputs[{i}]: name and datatype must be strings and shape a list")
        if t["data"] is None:
            raise CodecError(f"{who}: outputs[{i}] ('{t['name']}'): 'data' is null")
        params = t.get("parameters", _ABSENT)
        if params is _ABSENT or (type(params) is dict and None not in params.values()):
            continue  # the common case: nothing to clean
        if params is not None and type(params) is not dict:
            raise CodecError(f"{who}: outputs[{i}] ('{t['name']}'): 'parameters' must be a JSON object")
        if cleaned is None:
            cleaned = list(outputs)
        cleaned[i] = _without_null_parameters(t, params)
    params = doc.get("parameters")
    return InferResponse(
        v2_outputs=outputs if cleaned is None else cleaned,
        id=doc.get("id") if isinstance(doc.get("id"), str) else None,
        parameters=_non_null(params) if type(params) is dict else {},
    )


def _without_null_parameters(t: dict[str, Any], params: dict[str, Any] | None) -> dict[str, Any]:
    """The output ``t`` without its null parameters, and without ``parameters`` if none remain."""
    kept = _non_null(params) if params else None
    out = {}
    for key, value in t.items():
        if key != "parameters":
            out[key] = value
        elif kept:
            out[key] = kept
    return out


def _non_null(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None} if None in params.values() else params


def encode_request(request: InferRequest, inputs: tuple[Tensor, ...]) -> bytes:
    doc: dict[str, Any] = {"inputs": [encode_tensor(t) for t in inputs]}
    if request.id is not None:
        doc["id"] = request.id
    if request.parameters:
        doc["parameters"] = dict(request.parameters)
    if request.outputs:
        doc["outputs"] = requested_outputs_doc(request)
    return orjson.dumps(doc)


def requested_outputs_doc(request: InferRequest) -> list[dict[str, Any]]:
    """``outputs`` of a V2 request: each requested name with its answer-changing parameters."""
    params = request.output_parameters
    if not params:
        return [{"name": n} for n in request.outputs]
    return [{"name": n, "parameters": dict(params[n])} if n in params else {"name": n} for n in request.outputs]


def encode_response(
    outputs: tuple[Tensor, ...],
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    parameters: Mapping[str, Any] | None = None,
) -> bytes:
    return encode_response_doc([encode_tensor(t) for t in outputs], model_name, model_version, request_id, parameters)


def encode_response_doc(
    outputs: list[dict[str, Any]],
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    parameters: Mapping[str, Any] | None = None,
) -> bytes:
    """A V2 response from outputs already in JSON form."""
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = model_version
    if request_id is not None:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = dict(parameters)
    doc["outputs"] = outputs
    return orjson.dumps(doc)


def encode_tensor(t: Tensor) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
    if t.parameters:
        out["parameters"] = dict(t.parameters)
    out["data"] = array_to_json(t.data)
    return out


def decode_tensor(doc: Any, field: str, index: int) -> Tensor:
    """Decode and validate ``{field}[{index}]`` of a V2 document."""
    if type(doc) is not dict:
        raise CodecError(f"{field}[{index}] must be an object with name, datatype, shape and data")
    try:
        name, datatype, shape, data = doc["name"], doc["datatype"], doc["shape"], doc["data"]
    except KeyError as exc:
        missing = exc.args[0]
        params = doc.get("parameters")
        if missing == "data" and field == "inputs" and type(params) is dict and BINARY_DATA_SIZE in params:
            raise CodecError(
                f"{field}[{index}] has '{BINARY_DATA_SIZE}' but the request has no Inference-Header-Content-Length "
                "header: binary tensor data needs it (the length of the JSON part of the body)"
            ) from None
        raise CodecError(f"{field}[{index}]: missing '{missing}'") from None
    check_name(name, field, index)
    params = doc.get("parameters", _ABSENT)
    if params is _ABSENT:
        params = None
    else:
        if type(params) is not dict:
            raise CodecError(f"{field}[{index}] ('{name}'): 'parameters' must be a JSON object{_NO_NULL}")
        if BINARY_DATA_SIZE in params:
            raise CodecError(f"{field}[{index}] ('{name}'): has both 'data' and '{BINARY_DATA_SIZE}'; give one")
    try:
        arr = json_to_array(data, datatype, check_shape(shape))
    except CodecError as exc:
        raise CodecError(f"{field}[{index}] ('{name}'): {exc}") from None
    return Tensor(name, datatype, arr, params or _NO_PARAMS)


def _requested_outputs(
    doc: Any, out_params: dict[str, Mapping[str, Any]], binary: dict[str, bool]
) -> tuple[str, ...]:
    """The requested output names; fills ``out_params`` (answer-changing parameters per output) and
    ``binary`` (each output's own ``binary_data`` choice)."""
    if type(doc) is not list:
        raise CodecError("'outputs' must be a list of objects with a 'name'")
    names = []
    for i, o in enumerate(doc):
        if type(o) is not dict or type(o.get("name")) is not str:
            raise CodecError("'outputs' must be a list of objects with a 'name'")
        name = check_name(o["name"], "outputs", i)
        names.append(name)
        params = o.get("parameters", _ABSENT)
        if params is _ABSENT:
            continue
        if type(params) is not dict:
            raise CodecError(f"outputs[{i}] ('{name}'): 'parameters' must be a JSON object{_NO_NULL}")
        if BINARY_DATA in params:
            choice = params[BINARY_DATA]
            if type(choice) is not bool:
                raise CodecError(f"outputs[{i}] ('{name}'): parameter '{BINARY_DATA}' must be true or false")
            binary[name] = choice
            params = {k: v for k, v in params.items() if k != BINARY_DATA}
        if params:
            out_params[name] = params
    if len(names) > 1 and len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise CodecError(f"duplicate output name(s): {', '.join(dupes)}")
    return tuple(names)


def _parameters(doc: Any, where: str) -> Mapping[str, Any]:
    if doc is _ABSENT:
        return {}
    if not isinstance(doc, dict):
        raise CodecError(f"'{where}' must be a JSON object{_NO_NULL}")
    return doc


def _optional_str(value: Any, where: str) -> str | None:
    if value is _ABSENT:
        return None
    if isinstance(value, str):
        return value
    raise CodecError(f"'{where}' must be a string{_NO_NULL}")
