"""TensorProto <-> Tensor: every dtype both ways, tensor_content and typed fields, refusals, wire bytes."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from isthmus.codecs import CodecError
from isthmus.codecs.tensorproto import (
    DTYPE_OF_DATATYPE,
    TensorProto,
    decode_predict_response,
    decode_tensor,
    encode_predict_request,
    encode_tensor,
)
from isthmus.codecs.tensors import DATATYPES, Tensor
from isthmus.protos.tfserving.tensorflow.core.framework import types_pb2
from isthmus.protos.tfserving.tensorflow_serving.apis import predict_pb2

NUMERIC = [d for d in DATATYPES if d != "BYTES"]

# DT_* -> (V2 datatype, typed field TF Serving fills), from types.proto / tensor.proto upstream
EXPECTED = {
    "DT_FLOAT": ("FP32", "float_val"), "DT_DOUBLE": ("FP64", "double_val"), "DT_HALF": ("FP16", "half_val"),
    "DT_INT8": ("INT8", "int_val"), "DT_INT16": ("INT16", "int_val"), "DT_INT32": ("INT32", "int_val"),
    "DT_INT64": ("INT64", "int64_val"), "DT_UINT8": ("UINT8", "int_val"), "DT_UINT16": ("UINT16", "int_val"),
    "DT_UINT32": ("UINT32", "uint32_val"), "DT_UINT64": ("UINT64", "uint64_val"), "DT_BOOL": ("BOOL", "bool_val"),
    "DT_STRING": ("BYTES", "string_val"),
}  # fmt: skip


def sample(datatype: str) -> np.ndarray:
    if datatype == "BYTES":
        arr = np.empty(6, dtype=object)
        arr[:] = [b"a", b"", b"\xff\x00", "caf\u00e9".encode(), b"x" * 300, b"z"]
        return arr.reshape(2, 3)
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    dtype = DATATYPES[datatype]
    if dtype.kind == "f":
        return np.array([[0.5, -1.25, 3.0], [np.inf, -0.0, 65504.0]], dtype=dtype)
    info = np.iinfo(dtype)
    return np.array([[info.min, 0, 1], [info.max, info.max - 1, 7]], dtype=dtype)


@pytest.mark.parametrize("dt_name", sorted(EXPECTED))
@pytest.mark.parametrize("typed", [False, True], ids=["tensor_content", "typed"])
def test_every_dtype_round_trips(dt_name, typed):
    datatype, field = EXPECTED[dt_name]
    t = Tensor("x", datatype, sample(datatype))
    proto = encode_tensor(t, typed=typed)
    assert proto.dtype == types_pb2.DataType.Value(dt_name) == DTYPE_OF_DATATYPE[datatype]
    assert [d.size for d in proto.tensor_shape.dim] == [2, 3]
    if datatype == "BYTES" or typed:
        assert not proto.tensor_content and len(getattr(proto, field)) == 6
    else:
        assert proto.tensor_content and not getattr(proto, field)
    back = decode_tensor("x", TensorProto.FromString(proto.SerializeToString()))
    assert back.datatype == datatype and back.shape == (2, 3) and back.data.dtype == DATATYPES[datatype]
    assert back.data.tolist() == t.data.tolist()


def test_strings_encode_from_str_and_decode_as_bytes():
    arr = np.empty(2, dtype=object)
    arr[:] = ["héllo", b"raw"]
    proto = encode_tensor(Tensor("s", "BYTES", arr))
    assert list(proto.string_val) == ["héllo".encode(), b"raw"]
    assert decode_tensor("s", proto).data.tolist() == ["héllo".encode(), b"raw"]


def test_typed_fields_written_by_hand_decode():
    p = TensorProto(dtype=types_pb2.DT_HALF)
    p.tensor_shape.dim.add(size=2)
    p.half_val.extend([0x3C00, 0xC000])  # 1.0, -2.0 as IEEE half bits
    assert decode_tensor("h", p).data.tolist() == [1.0, -2.0]
    p = TensorProto(dtype=types_pb2.DT_UINT16, int_val=[65535, 0])
    p.tensor_shape.dim.add(size=2)
    assert decode_tensor("u", p).data.tolist() == [65535, 0]


def test_scalar_and_empty_tensors():
    scalar = TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[2.5])  # no dims: a scalar
    t = decode_tensor("s", scalar)
    assert t.shape == () and t.data.tolist() == 2.5
    empty = encode_tensor(Tensor("e", "INT32", np.zeros((0, 3), dtype=np.int32)))
    assert decode_tensor("e", empty).shape == (0, 3)


def test_short_typed_fields_follow_tfs_fill_rule():
    p = TensorProto(dtype=types_pb2.DT_INT32, int_val=[7])
    p.tensor_shape.dim.add(size=2)
    p.tensor_shape.dim.add(size=2)
    assert decode_tensor("c", p).data.tolist() == [[7, 7], [7, 7]]  # one value fills the shape
    p = TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1, 2])
    p.tensor_shape.dim.add(size=4)
    assert decode_tensor("c", p).data.tolist() == [1, 2, 2, 2]  # the last value repeats
    p = TensorProto(dtype=types_pb2.DT_DOUBLE)
    p.tensor_shape.dim.add(size=3)
    assert decode_tensor("c", p).data.tolist() == [0, 0, 0]  # no values: zeros


def shaped(dtype, dims, **fields):
    p = TensorProto(dtype=dtype, **fields)
    for d in dims:
        p.tensor_shape.dim.add(size=d)
    return p


@pytest.mark.parametrize(
    "proto, message",
    [
        (shaped(types_pb2.DT_COMPLEX64, [1]), "input 'x': DT_COMPLEX64 is not supported"),
        (shaped(types_pb2.DT_BFLOAT16, [1]), "DT_BFLOAT16 is not supported"),
        (shaped(types_pb2.DT_RESOURCE, [1]), "DT_RESOURCE is not supported"),
        (shaped(99, [1]), "DataType 99 is not supported"),
        (shaped(types_pb2.DT_INVALID, [1]), "DT_INVALID is not supported"),
        (shaped(types_pb2.DT_FLOAT, [3], tensor_content=b"\0" * 8), "tensor_content has 8 bytes, shape [3] of DT_FLOAT needs 12"),
        (shaped(types_pb2.DT_STRING, [1], tensor_content=b"ab"), "DT_STRING in tensor_content is not supported"),
        (shaped(types_pb2.DT_FLOAT, [2], float_val=[1, 2, 3]), "3 values for shape [2]"),
        (shaped(types_pb2.DT_FLOAT, [-1], float_val=[1]), "unknown (negative) dimension"),
        (shaped(types_pb2.DT_INT8, [1], int_val=[300]), "out of range for INT8"),
        (shaped(types_pb2.DT_UINT8, [1], int_val=[-1]), "out of range for UINT8"),
        (shaped(types_pb2.DT_HALF, [1], half_val=[70000]), "half_val holds a value that is not 16 bits"),
    ],
)
def test_refused_tensors_name_the_problem(proto, message):
    with pytest.raises(CodecError, match=re.escape(message)):
        decode_tensor("x", proto, "input")


def test_unknown_rank_is_refused():
    p = TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1])
    p.tensor_shape.unknown_rank = True
    with pytest.raises(CodecError, match="unknown rank"):
        decode_tensor("x", p)


def test_encode_refuses_non_strings_in_bytes():
    arr = np.empty(1, dtype=object)
    arr[:] = [3]
    with pytest.raises(CodecError, match="BYTES element 3 is not a string"):
        encode_tensor(Tensor("s", "BYTES", arr))


def test_wire_bytes_match_upstream_field_numbers():
    """Bytes written by hand from upstream tensor.proto numbers: dtype=1, tensor_shape=2 (dim=2, size=1),
    float_val=5 (packed), int64_val=10, tensor_content=4; PredictRequest model_spec=1 (name=1,
    version=2, signature_name=3), inputs=2 (map entry key=1 value=2), output_filter=3."""
    p = shaped(types_pb2.DT_FLOAT, [2], float_val=[1.0, 2.0])
    assert p.SerializeToString() == b"\x08\x01" + b"\x12\x04\x12\x02\x08\x02" + b"\x2a\x08" + np.float32([1, 2]).tobytes()
    raw = b"\x08\x09" + b"\x12\x04\x12\x02\x08\x01" + b"\x52\x01\x05"  # DT_INT64, shape [1], int64_val=[5]
    assert decode_tensor("i", TensorProto.FromString(raw)).data.tolist() == [5]
    req = encode_predict_request([], "m", "3", "sig", ["out"])
    assert req.SerializeToString() == b"\x0a\x0c\x0a\x01m\x12\x02\x08\x03\x1a\x03sig" + b"\x1a\x03out"
    req = encode_predict_request([Tensor("a", "INT32", np.int32([1]))], "m")
    entry = b"\x0a\x01a\x12" + bytes([len(v := encode_tensor(Tensor("a", "INT32", np.int32([1]))).SerializeToString())]) + v
    assert req.SerializeToString() == b"\x0a\x03\x0a\x01m" + b"\x12" + bytes([len(entry)]) + entry


def test_predict_request_versions_and_labels():
    assert encode_predict_request([], "m", "7").model_spec.version.value == 7
    spec = encode_predict_request([], "m", "canary").model_spec
    assert spec.version_label == "canary" and not spec.HasField("version")
    assert not encode_predict_request([], "m").model_spec.HasField("version")
    with pytest.raises(CodecError, match="input 'a' is given twice"):
        t = Tensor("a", "FP32", np.float32([1]))
        encode_predict_request([t, t], "m")


def test_predict_response_outputs_sorted_by_name():
    resp = predict_pb2.PredictResponse()
    encode_tensor(Tensor("zeta", "FP32", np.float32([1])), resp.outputs["zeta"])
    encode_tensor(Tensor("alpha", "INT64", np.int64([2])), resp.outputs["alpha"], typed=True)
    out = decode_predict_response(resp)
    assert [(t.name, t.datatype, t.data.tolist()) for t in out] == [("alpha", "INT64", [2]), ("zeta", "FP32", [1.0])]
    with pytest.raises(CodecError, match="no outputs"):
        decode_predict_response(predict_pb2.PredictResponse())


@st.composite
def tensors(draw):
    datatype = draw(st.sampled_from(sorted(DATATYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if datatype == "BYTES":
        flat = draw(st.lists(st.binary(max_size=8), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return Tensor("t", datatype, arr.reshape(shape))
    return Tensor("t", datatype, draw(hnp.arrays(DATATYPES[datatype], shape)))


@settings(max_examples=300, deadline=None)
@given(tensors(), st.booleans())
def test_round_trip_property(t, typed):
    back = decode_tensor("t", TensorProto.FromString(encode_tensor(t, typed=typed).SerializeToString()))
    assert back.datatype == t.datatype and back.shape == t.shape
    if t.datatype == "BYTES":
        assert back.data.tolist() == t.data.tolist()
    else:  # bit-exact, NaNs and -0.0 included
        assert back.data.tobytes() == np.ascontiguousarray(t.data).tobytes()
