"""Strict conversion between JSON lists and numpy arrays for V2 datatypes."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import DATATYPE_OF_DTYPE, DATATYPES

_INT_KINDS = "iu"


def check_datatype(datatype: Any, where: str = "") -> np.dtype:
    try:
        return DATATYPES[datatype]
    except (KeyError, TypeError):
        prefix = f"{where}: " if where else ""
        if not isinstance(datatype, str):
            raise CodecError(f"{prefix}'datatype' must be a string, got {type(datatype).__name__}") from None
        known = ", ".join(DATATYPES)
        raise CodecError(f"{prefix}unsupported datatype '{datatype}' (supported: {known})") from None


def check_shape(shape: Any) -> tuple[int, ...]:
    if type(shape) is not list:
        raise CodecError(f"'shape' must be a list of integers, got {shape!r}")
    for d in shape:
        if type(d) is not int:
            raise CodecError(f"'shape' must be a list of integers, got {shape!r}")
        if d < 0:
            raise CodecError(f"'shape' must not contain negative dimensions, got {shape}")
    return tuple(shape)


def json_to_array(data: Any, datatype: str, shape: Sequence[int]) -> np.ndarray:
    """Build an array of ``datatype`` and ``shape`` from (flat or nested) JSON data.

    Raises :class:`CodecError` with a message the caller prefixes with the tensor's name.
    """
    dtype = check_datatype(datatype)
    if type(data) is not list:
        data = [data]
    expected = math.prod(shape)
    if dtype.kind == "O":
        flat = _flatten(data)
        for i, v in enumerate(flat):
            if not isinstance(v, str | bytes):
                raise CodecError(f"BYTES data must be strings, element {i} is {type(v).__name__}")
        arr = np.empty(len(flat), dtype=object)
        arr[:] = [v.encode() if isinstance(v, str) else v for v in flat]
    else:
        try:
            parsed = np.asarray(data)
        except ValueError:
            raise CodecError("'data' is ragged (nested lists of unequal length)") from None
        if parsed.ndim != 1:
            parsed = parsed.reshape(-1)
        arr = _coerce(parsed, dtype, datatype)
    if arr.size != expected:
        raise CodecError(f"'data' has {arr.size} elements but shape {list(shape)} needs {expected}")
    return arr.reshape(shape)


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


def _coerce(parsed: np.ndarray, dtype: np.dtype, datatype: str) -> np.ndarray:
    kind = parsed.dtype.kind
    if parsed.size == 0:
        return parsed.astype(dtype)
    if kind in "USO":
        raise CodecError(f"{datatype} data must be numbers, found non-numeric values")
    if dtype.kind == "b":
        if kind != "b":
            raise CodecError("BOOL data must be true/false")
        return parsed
    if kind == "b":
        raise CodecError(f"{datatype} data must be numbers, found true/false")
    if dtype.kind in _INT_KINDS:
        if kind == "f":
            if not np.all(np.isfinite(parsed)) or not np.all(parsed == np.floor(parsed)):
                raise CodecError(f"{datatype} data must be integers, found fractional values")
        info = np.iinfo(dtype)
        lo, hi = parsed.min(), parsed.max()
        if lo < info.min or hi > info.max:
            raise CodecError(f"value out of range for {datatype} [{info.min}, {info.max}]")
    return parsed.astype(dtype)


def array_to_json(arr: np.ndarray) -> list[Any]:
    """Flat, row-major JSON list of an array (BYTES become UTF-8 strings)."""
    flat = arr.reshape(-1)
    if flat.dtype.kind == "O":
        return [_bytes_to_str(v) for v in flat]
    return flat.tolist()


def _bytes_to_str(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            raise CodecError("BYTES output is not valid UTF-8 and cannot be sent as JSON") from None
    return v


def datatype_of(arr: np.ndarray, where: str) -> str:
    try:
        return DATATYPE_OF_DTYPE[arr.dtype if arr.dtype.kind != "U" else np.dtype(object)]
    except KeyError:
        raise CodecError(f"{where}: numpy dtype {arr.dtype} has no V2 datatype") from None


def values_to_array(values: Any, numeric_datatype: str, where: str) -> np.ndarray:
    """Turn name-less JSON values (V1 instances, predictions) into an array.

    Strings become BYTES, true/false BOOL, numbers ``numeric_datatype``.
    Ragged lists or objects cannot be tensors and raise :class:`CodecError`.
    """
    try:
        parsed = np.asarray(values)
    except ValueError:
        raise CodecError(f"{where}: ragged lists cannot be translated to a tensor") from None
    kind = parsed.dtype.kind
    if kind == "U":
        out = np.empty(parsed.shape, dtype=object)
        out.reshape(-1)[:] = [s.encode() for s in parsed.reshape(-1)]
        return out
    if kind == "b":
        return parsed
    if kind in "iuf":
        dtype = check_datatype(numeric_datatype, where)
        try:
            return _coerce(parsed.reshape(-1), dtype, numeric_datatype).reshape(parsed.shape)
        except CodecError as exc:
            raise CodecError(f"{where}: {exc}") from None
    raise CodecError(
        f"{where}: values must be a rectangular list of numbers, strings or booleans to be "
        "translated to a tensor (objects pass through only between JSON-instance protocols)"
    )
