"""Open Inference Protocol V2 over gRPC: ModelInferRequest / ModelInferResponse <-> the tensor model.

Pure functions, no I/O. The messages are tritonclient's generated classes for
``inference.GRPCInferenceService``; Triton's proto is a superset of KServe's and every field used
here has the same number in both, so they are what KServe and MLServer send and receive too.

Tensor data arrives either in the typed ``contents`` of each tensor or, for all tensors at once,
in ``raw_input_contents`` / ``raw_output_contents`` (little-endian, row-major; BYTES elements each
prefixed by their length as 4 little-endian bytes). Both are accepted; what Isthmus sends is raw,
the only form that carries FP16.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import orjson
from tritonclient.grpc import service_pb2 as pb

from isthmus.codecs.arrays import check_datatype
from isthmus.codecs.errors import CodecError
from isthmus.codecs.names import check_name
from isthmus.codecs.tensors import InferRequest, InferResponse, Tensor
from isthmus.codecs.v2_binary import array_from_raw, raw_bytes

__all__ = [
    "CONTENTS_FIELD",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "metadata_from_pb",
    "metadata_to_pb",
    "pb",
]

# datatype -> the field of InferTensorContents that carries it. FP16 has none: raw only.
CONTENTS_FIELD: Mapping[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_ALL_FIELDS = sorted(set(CONTENTS_FIELD.values()))
_NARROW_INTS = {"INT8", "INT16", "UINT8", "UINT16"}  # carried by 32-bit fields: range-checked


# --- requests -----------------------------------------------------------------------------------


def decode_request(msg: pb.ModelInferRequest) -> InferRequest:
    """A ModelInferRequest as the gateway's request; :class:`CodecError` names what is wrong."""
    if not msg.inputs:
        raise CodecError("request needs at least one input")
    raw = msg.raw_input_contents
    if raw and len(raw) != len(msg.inputs):
        raise CodecError(
            f"raw_input_contents has {len(raw)} entries but the request has {len(msg.inputs)} inputs "
            "(when raw_input_contents is used, every input's data must be in it, in order)"
        )
    tensors = tuple(
        _tensor(t, "inputs", i, raw[i] if raw else None, "raw_input_contents") for i, t in enumerate(msg.inputs)
    )
    if len(tensors) > 1:
        names = [t.name for t in tensors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise CodecError(f"duplicate input name(s): {', '.join(dupes)}")
    return InferRequest(
        inputs=tensors,
        outputs=tuple(check_name(o.name, "outputs", i) for i, o in enumerate(msg.outputs)),
        parameters=params_from_pb(msg.parameters),
        id=msg.id or None,
        output_parameters=_output_parameters(msg.outputs),
    )


def _output_parameters(outputs: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per requested output, its parameters that can change the answer (e.g. ``classification``);
    ``binary_data`` (a REST wire-form choice some clients also set here) is left out."""
    found: dict[str, dict[str, Any]] = {}
    for o in outputs:
        if o.parameters:
            params = params_from_pb(o.parameters)
            params.pop("binary_data", None)
            if params:
                found[o.name] = params
    return found


def encode_request(
    request: InferRequest,
    inputs: tuple[Tensor, ...],
    model_name: str,
    model_version: str | None = None,
    *,
    raw: bool = True,
) -> pb.ModelInferRequest:
    """``inputs`` (the request's tensors, translated if need be) as a ModelInferRequest.

    ``raw``: data in ``raw_input_contents`` (the default; the only form for FP16), else typed ``contents``.
    """
    msg = pb.ModelInferRequest(model_name=model_name, model_version=model_version or "", id=request.id or "")
    params_to_pb(msg.parameters, request.parameters, "parameters")
    for t in inputs:
        tensor = msg.inputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
        params_to_pb(tensor.parameters, t.parameters, f"input '{t.name}' parameters")
        if raw:
            msg.raw_input_contents.append(raw_bytes(t))
        else:
            _fill_contents(tensor.contents, t)
    out_params = request.output_parameters
    for name in request.outputs:
        requested = msg.outputs.add(name=name)
        if name in out_params:
            params_to_pb(requested.parameters, out_params[name], f"output '{name}' parameters")
    return msg


# --- responses ----------------------------------------------------------------------------------


def decode_response(msg: pb.ModelInferResponse, who: str) -> InferResponse:
    """A backend's ModelInferResponse as tensors; :class:`CodecError` (prefixed with ``who``) if malformed."""
    raw = msg.raw_output_contents
    try:
        if raw and len(raw) != len(msg.outputs):
            raise CodecError(f"raw_output_contents has {len(raw)} entries for {len(msg.outputs)} outputs")
        outputs = tuple(
            _tensor(t, "outputs", i, raw[i] if raw else None, "raw_output_contents") for i, t in enumerate(msg.outputs)
        )
    except CodecError as exc:
        raise CodecError(f"{who}: {exc}") from None
    return InferResponse(outputs=outputs, id=msg.id or None, parameters=params_from_pb(msg.parameters))


def encode_response(
    outputs: Iterable[Tensor],
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    parameters: Mapping[str, Any] | None = None,
    *,
    raw: bool = True,
) -> pb.ModelInferResponse:
    msg = pb.ModelInferResponse(model_name=model_name, model_version=model_version or "", id=request_id or "")
    params_to_pb(msg.parameters, parameters or {}, "response parameters")
    for t in outputs:
        tensor = msg.outputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
        params_to_pb(tensor.parameters, t.parameters, f"output '{t.name}' parameters")
        if raw:
            msg.raw_output_contents.append(raw_bytes(t))
        else:
            _fill_contents(tensor.contents, t)
    return msg


# --- model metadata -----------------------------------------------------------------------------


def metadata_to_pb(doc: Mapping[str, Any]) -> pb.ModelMetadataResponse:
    """The gateway's V2 metadata document (name, versions, platform, inputs, outputs) as a message."""
    msg = pb.ModelMetadataResponse(
        name=str(doc.get("name", "")),
        versions=[str(v) for v in doc.get("versions", [])],
        platform=str(doc.get("platform", "") or ""),
    )
    for key, target in (("inputs", msg.inputs), ("outputs", msg.outputs)):
        for t in doc.get(key) or []:
            if isinstance(t, Mapping):
                shape = [int(d) for d in t.get("shape", []) if isinstance(d, int | float)]
                target.add(name=str(t.get("name", "")), datatype=str(t.get("datatype", "")), shape=shape)
    return msg


def metadata_from_pb(msg: pb.ModelMetadataResponse) -> dict[str, Any]:
    def tensors(ts: Iterable[Any]) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in ts]

    return {
        "name": msg.name,
        "versions": list(msg.versions),
        "platform": msg.platform,
        "inputs": tensors(msg.inputs),
        "outputs": tensors(msg.outputs),
    }


# --- parameters ---------------------------------------------------------------------------------


def params_from_pb(params: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, p in params.items():
        which = p.WhichOneof("parameter_choice")
        if which is not None:
            out[key] = getattr(p, which)
    return out


def params_to_pb(target: Any, params: Mapping[str, Any], where: str) -> None:
    """Fill a ``map<string, InferParameter>``. Values gRPC has no type for (JSON objects, lists,
    null, from a REST app or backend) go as their JSON text in ``string_param``."""
    for key, value in params.items():
        p = target[str(key)]
        if isinstance(value, bool):
            p.bool_param = value
        elif isinstance(value, int):
            if -(2**63) <= value < 2**63:
                p.int64_param = value
            elif 0 <= value < 2**64:
                p.uint64_param = value
            else:
                raise CodecError(f"{where}: '{key}' = {value} does not fit 64 bits")
        elif isinstance(value, float):
            p.double_param = value
        elif isinstance(value, str):
            p.string_param = value
        else:
            try:
                p.string_param = orjson.dumps(value).decode()
            except TypeError as exc:
                raise CodecError(f"{where}: '{key}' cannot be sent: {exc}") from None


# --- tensors ------------------------------------------------------------------------------------


def _fill_contents(contents: pb.InferTensorContents, t: Tensor) -> None:
    field = CONTENTS_FIELD.get(t.datatype)
    if field is None:
        raise CodecError(f"tensor '{t.name}': {t.datatype} has no typed contents field; send it as raw contents")
    flat = t.data.reshape(-1)
    if t.datatype == "BYTES":
        getattr(contents, field).extend(v.encode() if isinstance(v, str) else bytes(v) for v in flat)
    else:
        getattr(contents, field).extend(flat.tolist())


def _tensor(t: Any, kind: str, index: int, raw: bytes | None, raw_field: str) -> Tensor:
    name = check_name(t.name, kind, index)
    where = f"{kind}[{index}] ('{name}')"
    try:
        dtype = check_datatype(t.datatype)
        shape = tuple(t.shape)
        if any(d < 0 for d in shape):
            raise CodecError(f"'shape' must not contain negative dimensions, got {list(shape)}")
        count = math.prod(shape)
        if raw is not None:
            if t.HasField("contents") and any(getattr(t.contents, f) for f in _ALL_FIELDS):
                raise CodecError(f"data is given both in {raw_field} and in 'contents'; use one")
            arr = array_from_raw(raw, t.datatype, shape)
        else:
            arr = _from_contents(t.contents, t.datatype, dtype, count, shape, raw_field)
    except CodecError as exc:
        raise CodecError(f"{where}: {exc}") from None
    params = params_from_pb(t.parameters)
    params.pop("binary_data_size", None)  # describes the wire form just decoded; would mislead a REST peer
    return Tensor(name, t.datatype, arr, params)


def _from_contents(
    contents: pb.InferTensorContents, datatype: str, dtype: np.dtype, count: int, shape: tuple[int, ...], raw_field: str
) -> np.ndarray:
    field = CONTENTS_FIELD.get(datatype)
    others = [f for f in _ALL_FIELDS if f != field and getattr(contents, f)]
    if others:
        expected = f"'{field}'" if field else f"{raw_field} ({datatype} has no typed contents field)"
        raise CodecError(f"{datatype} data must be in {expected}, found {', '.join(others)}")
    if field is None:
        if count == 0:
            return np.empty(shape, dtype=dtype)
        raise CodecError(f"{datatype} data must be sent in {raw_field} ({datatype} has no typed contents field)")
    values = getattr(contents, field)
    if len(values) != count:
        raise CodecError(f"'{field}' has {len(values)} elements but shape {list(shape)} needs {count}")
    if dtype.kind == "O":
        arr = np.empty(count, dtype=object)
        arr[:] = list(values)
        return arr.reshape(shape)
    if datatype in _NARROW_INTS and count:
        wide = np.asarray(values, dtype=np.int64)
        info = np.iinfo(dtype)
        if wide.min() < info.min or wide.max() > info.max:
            raise CodecError(f"value out of range for {datatype} [{info.min}, {info.max}]")
        return wide.astype(dtype).reshape(shape)
    return np.asarray(values, dtype=dtype).reshape(shape)
