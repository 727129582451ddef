"""The binary tensor data extension of Open Inference Protocol V2 over REST (Triton's ``binary_tensor_data``).

A body is a JSON document of ``Inference-Header-Content-Length`` bytes followed by the data of
every tensor whose ``parameters`` give a ``binary_data_size``, concatenated in the order of the
tensors: little-endian, row-major, no padding; BOOL one byte (0 or 1); BYTES each element as a
4-byte little-endian length and its bytes. The same layout is gRPC's ``raw_input_contents``, so
:mod:`isthmus.codecs.v2_grpc` uses :func:`array_from_raw` and :func:`raw_bytes` too.

Pure functions, no I/O. Fixed-size tensors are numpy views of the body (``np.frombuffer`` on a
memoryview slice): no copy. The JSON document is decoded by :mod:`isthmus.codecs.v2`, so a binary
request and a JSON one of the same values are the same :class:`InferRequest`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import orjson

from isthmus.codecs import v2
from isthmus.codecs.arrays import check_datatype, check_shape
from isthmus.codecs.convert import response_tensors
from isthmus.codecs.errors import CodecError
from isthmus.codecs.tensors import DATATYPES, BinaryOutputs, InferRequest, InferResponse, Tensor

HEADER = "inference-header-content-length"  # as the ingress stores header names: lower case
CONTENT_TYPE = "application/octet-stream"  # an answer with binary outputs (as Triton sends it)
_LENGTH = 4  # bytes of a BYTES element's length prefix


# --- requests -----------------------------------------------------------------------------------


def decode_request(body: bytes, header_length: str) -> InferRequest:
    """A request with binary tensor data; ``header_length`` is the Inference-Header-Content-Length value."""
    n = _header_length(header_length, len(body))
    view = memoryview(body)
    doc = v2.loads(view[:n], f"the first {n} bytes of the body (Inference-Header-Content-Length)")
    offset, end = n, len(body)
    tensors = []
    for i, t in enumerate(v2.request_inputs(doc)):
        params = t.get("parameters") if type(t) is dict else None
        size = params.get(v2.BINARY_DATA_SIZE) if type(params) is dict else None
        if size is None:
            tensors.append(v2.decode_tensor(t, "inputs", i))
            continue
        name = t.get("name")
        where = f"inputs[{i}] ('{name}')" if type(name) is str and name else f"inputs[{i}]"
        if type(size) is not int or size < 0:
            raise CodecError(f"{where}: '{v2.BINARY_DATA_SIZE}' must be a non-negative integer, got {size!r}")
        if "data" in t:
            raise CodecError(f"{where}: has both 'data' and '{v2.BINARY_DATA_SIZE}'; give one")
        if offset + size > end:
            raise CodecError(
                f"{where}: '{v2.BINARY_DATA_SIZE}' is {size} bytes but only {end - offset} bytes of binary "
                f"data are left in the body after the JSON part and the inputs before it"
            )
        tensors.append(_binary_tensor(t, where, params, view[offset : offset + size]))
        offset += size
    if offset != end:
        raise CodecError(
            f"the body has {end - n} bytes of binary data after the JSON part but the inputs' "
            f"'{v2.BINARY_DATA_SIZE}' add up to {offset - n}"
        )
    return v2.build_request(doc, tuple(tensors), None)


def _header_length(value: str, body_size: int) -> int:
    if not (value.isascii() and value.isdigit()):  # also refuses a sign, spaces, several values, "²"
        raise CodecError(f"Inference-Header-Content-Length must be a number of bytes, got {value!r}")
    n = int(value)
    if n == 0 or n > body_size:
        raise CodecError(
            f"Inference-Header-Content-Length is {n} but the body has {body_size} bytes: "
            "it must be the length of the JSON part at the start of the body"
        )
    return n


def _binary_tensor(doc: dict[str, Any], where: str, params: Mapping[str, Any], raw: memoryview) -> Tensor:
    try:
        name, datatype, shape = doc["name"], doc["datatype"], doc["shape"]
    except KeyError as exc:
        raise CodecError(f"{where}: missing '{exc.args[0]}'") from None
    if type(name) is not str or not name:
        raise CodecError(f"{where}: 'name' must be a non-empty string")
    try:
        arr = array_from_raw(raw, datatype, check_shape(shape), "binary data")
    except CodecError as exc:
        raise CodecError(f"{where}: {exc}") from None
    rest = {k: v for k, v in params.items() if k != v2.BINARY_DATA_SIZE}
    return Tensor(name, datatype, arr, rest)


def encode_request(request: InferRequest, inputs: tuple[Tensor, ...]) -> tuple[bytes, int]:
    """``inputs`` (the request's tensors, translated if need be) as a body with every input in binary:
    ``(body, JSON length)``. Outputs are asked for in JSON (no ``binary_data``)."""
    docs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for t in inputs:
        raw = raw_bytes(t)
        chunks.append(raw)
        params = dict(t.parameters)
        params[v2.BINARY_DATA_SIZE] = len(raw)
        docs.append({"name": t.name, "datatype": t.datatype, "shape": list(t.shape), "parameters": params})
    doc: dict[str, Any] = {"inputs": docs}
    if request.id is not None:
        doc["id"] = request.id
    if request.parameters:
        doc["parameters"] = dict(request.parameters)
    if request.outputs:
        doc["outputs"] = v2.requested_outputs_doc(request)
    header = orjson.dumps(doc)
    return b"".join([header, *chunks]), len(header)


# --- the binary layout of one tensor ------------------------------------------------------------


def array_from_raw(raw: bytes | memoryview, datatype: Any, shape: tuple[int, ...], what: str = "raw data") -> np.ndarray:
    """The array of ``datatype`` and ``shape`` laid out in ``raw``; :class:`CodecError` says what does not fit.

    Fixed-size datatypes are a read-only view of ``raw`` (no copy); BYTES elements are copied out.
    """
    dtype = check_datatype(datatype)
    count = math.prod(shape)
    if dtype.kind == "O":
        items = split_bytes(raw)
        if len(items) != count:
            raise CodecError(f"{what} of BYTES has {len(items)} elements but shape {list(shape)} needs {count}")
        arr = np.empty(count, dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    need = count * dtype.itemsize
    if len(raw) != need:
        raise CodecError(
            f"{what} has {len(raw)} bytes but shape {list(shape)} of {datatype} needs {need} "
            f"({count} elements of {dtype.itemsize} bytes)"
        )
    arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    if dtype.kind == "b" and count and arr.view(np.uint8).max() > 1:
        raise CodecError("BOOL data must be bytes of 0 (false) or 1 (true)")
    if not arr.dtype.isnative:
        arr = arr.astype(dtype)
    return arr.reshape(shape)


def split_bytes(raw: bytes | memoryview) -> list[bytes]:
    """BYTES elements, each a 4-byte little-endian length and that many bytes."""
    items, pos, end = [], 0, len(raw)
    while pos < end:
        if pos + _LENGTH > end:
            raise CodecError(f"BYTES data is truncated: {end - pos} bytes left where a 4-byte length was expected")
        n = int.from_bytes(raw[pos : pos + _LENGTH], "little")
        pos += _LENGTH
        if pos + n > end:
            raise CodecError(f"BYTES element {len(items)} claims {n} bytes but only {end - pos} remain")
        items.append(bytes(raw[pos : pos + n]))
        pos += n
    return items


def raw_bytes(t: Tensor) -> bytes:
    """A tensor's data in the binary layout: little-endian row-major; BYTES length-prefixed."""
    dtype = DATATYPES[t.datatype]
    if dtype.kind == "O":
        parts = []
        for v in t.data.reshape(-1):
            b = v.encode() if isinstance(v, str) else bytes(v)
            parts.append(len(b).to_bytes(_LENGTH, "little"))
            parts.append(b)
        return b"".join(parts)
    return np.ascontiguousarray(t.data, dtype=dtype.newbyteorder("<")).tobytes()


# --- answers ------------------------------------------------------------------------------------


def encode_response(
    response: InferResponse,
    binary: BinaryOutputs,
    model_name: str,
    model_version: str | None,
    request_id: str | None,
) -> tuple[bytes, int | None]:
    """The answer with the outputs the app wants in binary after the JSON part: ``(body, JSON length)``;
    the length is None when no output is binary (the body is then plain JSON).

    A V2 backend's JSON outputs that stay JSON are kept verbatim. :class:`CodecError` when the
    backend's answer cannot be turned into tensors.
    """
    docs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    if response.v2_outputs is not None:
        for i, doc in enumerate(response.v2_outputs):
            if binary.wants(doc["name"]):
                docs.append(_binary_output(v2.decode_tensor(doc, "outputs", i), chunks))
            else:
                docs.append(doc)
    else:
        for t in response_tensors(response):
            docs.append(_binary_output(t, chunks) if binary.wants(t.name) else v2.encode_tensor(t))
    header = v2.encode_response_doc(docs, model_name, model_version, request_id, response.parameters)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _binary_output(t: Tensor, chunks: list[bytes]) -> dict[str, Any]:
    raw = raw_bytes(t)
    chunks.append(raw)
    params = dict(t.parameters)
    params[v2.BINARY_DATA_SIZE] = len(raw)
    return {"name": t.name, "datatype": t.datatype, "shape": list(t.shape), "parameters": params}
