"""TF Serving gRPC codec: ``tensorflow.TensorProto`` <-> :class:`Tensor`, and the Predict messages.

Pure functions, no I/O. Decoding accepts both representations TF uses: ``tensor_content``
(the raw row-major little-endian bytes) and the typed ``*_val`` fields, including TF's
"version 0" shorthand where fewer values than elements repeat the last one. Encoding writes
``tensor_content`` for numeric and bool tensors (what TF Serving itself sends) and
``string_val`` for strings; ``typed=True`` writes the ``*_val`` fields instead.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import DATATYPES, Tensor
from isthmus.protos.tfserving.tensorflow.core.framework import tensor_pb2, types_pb2
from isthmus.protos.tfserving.tensorflow_serving.apis import predict_pb2

TensorProto = tensor_pb2.TensorProto

# TF DataType -> (V2 datatype, TensorProto typed field). UINT16 rides in int_val, as TF does.
_BY_DTYPE: Mapping[int, tuple[str, str]] = {
    types_pb2.DT_FLOAT: ("FP32", "float_val"),
    types_pb2.DT_DOUBLE: ("FP64", "double_val"),
    types_pb2.DT_HALF: ("FP16", "half_val"),
    types_pb2.DT_INT8: ("INT8", "int_val"),
    types_pb2.DT_INT16: ("INT16", "int_val"),
    types_pb2.DT_INT32: ("INT32", "int_val"),
    types_pb2.DT_INT64: ("INT64", "int64_val"),
    types_pb2.DT_UINT8: ("UINT8", "int_val"),
    types_pb2.DT_UINT16: ("UINT16", "int_val"),
    types_pb2.DT_UINT32: ("UINT32", "uint32_val"),
    types_pb2.DT_UINT64: ("UINT64", "uint64_val"),
    types_pb2.DT_BOOL: ("BOOL", "bool_val"),
    types_pb2.DT_STRING: ("BYTES", "string_val"),
}
DTYPE_OF_DATATYPE: Mapping[str, int] = {v2: dt for dt, (v2, _) in _BY_DTYPE.items()}
DATATYPE_OF_DTYPE: Mapping[int, str] = {dt: v2 for dt, (v2, _) in _BY_DTYPE.items()}


def dtype_name(dtype: int) -> str:
    try:
        return types_pb2.DataType.Name(dtype)
    except ValueError:
        return f"DataType {dtype}"


# --- TensorProto -> Tensor ---------------------------------------------------------------------


def decode_tensor(name: str, proto: TensorProto, where: str = "tensor") -> Tensor:
    """One TensorProto as a Tensor named ``name``; CodecError names ``where`` and the problem."""
    label = f"{where} '{name}'"
    if proto.dtype not in _BY_DTYPE:
        supported = ", ".join(dtype_name(d) for d in _BY_DTYPE)
        raise CodecError(f"{label}: {dtype_name(proto.dtype)} is not supported (supported: {supported})")
    datatype, field = _BY_DTYPE[proto.dtype]
    shape = _shape(proto, label)
    count = int(np.prod(shape, dtype=np.int64))
    dtype = DATATYPES[datatype]
    if proto.tensor_content:
        if datatype == "BYTES":
            raise CodecError(f"{label}: DT_STRING in tensor_content is not supported; send string_val")
        data = proto.tensor_content
        if len(data) != count * dtype.itemsize:
            raise CodecError(
                f"{label}: tensor_content has {len(data)} bytes, shape {list(shape)} of "
                f"{dtype_name(proto.dtype)} needs {count * dtype.itemsize}"
            )
        if datatype == "BOOL":
            arr = np.frombuffer(data, dtype=np.uint8) != 0
        else:
            arr = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=True)
        return Tensor(name, datatype, arr.reshape(shape))
    values = getattr(proto, field)
    arr = _typed_values(values, datatype, label)
    if arr.size != count:
        arr = _fill(arr, count, shape, label)
    return Tensor(name, datatype, arr.reshape(shape))


def _shape(proto: TensorProto, label: str) -> tuple[int, ...]:
    if proto.tensor_shape.unknown_rank:
        raise CodecError(f"{label}: tensor_shape has unknown rank")
    dims = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(d < 0 for d in dims):
        raise CodecError(f"{label}: tensor_shape {list(dims)} has an unknown (negative) dimension")
    return dims


def _typed_values(values: Iterable, datatype: str, label: str) -> np.ndarray:
    if datatype == "BYTES":
        arr = np.empty(len(values), dtype=object)  # type: ignore[arg-type]
        arr[:] = list(values)
        return arr
    if datatype == "FP16":
        bits = np.asarray(values, dtype=np.int64)
        if bits.size and (bits.min() < 0 or bits.max() > 0xFFFF):
            raise CodecError(f"{label}: half_val holds a value that is not 16 bits")
        return bits.astype(np.uint16).view(np.float16)
    dtype = DATATYPES[datatype]
    if dtype.kind in "iu":
        wide = np.asarray(values, dtype=np.uint64 if datatype == "UINT64" else np.int64)
        info = np.iinfo(dtype)
        if wide.size and (wide.min() < info.min or wide.max() > info.max):
            raise CodecError(f"{label}: a value is out of range for {datatype}")
        return wide.astype(dtype)
    return np.asarray(values, dtype=dtype)


def _fill(arr: np.ndarray, count: int, shape: tuple[int, ...], label: str) -> np.ndarray:
    """TF's rule for short typed fields: no values -> zeros, fewer -> the last one repeated."""
    if arr.size > count:
        raise CodecError(f"{label}: {arr.size} values for shape {list(shape)} ({count} elements)")
    if arr.size == 0:
        if arr.dtype.kind == "O":
            out = np.empty(count, dtype=object)
            out[:] = [b""] * count
            return out
        return np.zeros(count, dtype=arr.dtype)
    return np.concatenate([arr, np.repeat(arr[-1:], count - arr.size)])


# --- Tensor -> TensorProto ---------------------------------------------------------------------


def encode_tensor(t: Tensor, out: TensorProto | None = None, *, typed: bool = False) -> TensorProto:
    """``t`` as a TensorProto (into ``out`` when given, e.g. a map entry)."""
    proto = TensorProto() if out is None else out
    if t.datatype not in DTYPE_OF_DATATYPE:
        raise CodecError(f"tensor '{t.name}': datatype {t.datatype} has no TensorFlow DataType")
    dt = DTYPE_OF_DATATYPE[t.datatype]
    proto.dtype = dt
    for d in t.shape:
        proto.tensor_shape.dim.add(size=d)
    if t.datatype == "BYTES":
        proto.string_val.extend(_as_bytes(v, t.name) for v in t.data.reshape(-1))
        return proto
    data = np.ascontiguousarray(t.data, dtype=DATATYPES[t.datatype])
    if not typed:
        proto.tensor_content = data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
        return proto
    field = _BY_DTYPE[dt][1]
    flat = data.reshape(-1)
    if t.datatype == "FP16":
        flat = flat.view(np.uint16)
    getattr(proto, field).extend(flat.tolist())
    return proto


def _as_bytes(v: object, name: str) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    raise CodecError(f"tensor '{name}': BYTES element {v!r} is not a string")


# --- Predict messages --------------------------------------------------------------------------


def encode_predict_request(
    tensors: Iterable[Tensor],
    model: str,
    version: str | None = None,
    signature_name: str | None = None,
    output_filter: Iterable[str] = (),
) -> predict_pb2.PredictRequest:
    """A PredictRequest; a numeric ``version`` selects by number, any other text by label."""
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    if version:
        if version.isdigit():
            req.model_spec.version.value = int(version)
        else:
            req.model_spec.version_label = version
    if signature_name:
        req.model_spec.signature_name = signature_name
    for t in tensors:
        if t.name in req.inputs:
            raise CodecError(f"input '{t.name}' is given twice")
        encode_tensor(t, req.inputs[t.name])
    req.output_filter.extend(output_filter)
    return req


def decode_predict_response(resp: predict_pb2.PredictResponse) -> tuple[Tensor, ...]:
    """Every output of a PredictResponse as a tensor, ordered by name (the map has no order)."""
    if not resp.outputs:
        raise CodecError("PredictResponse has no outputs")
    return tuple(decode_tensor(name, resp.outputs[name], "output") for name in sorted(resp.outputs))
