import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.codecs import CodecError, Tensor, v2


def body(**inp) -> bytes:
    t = {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}
    t.update(inp)
    return orjson.dumps({"inputs": [t]})


def test_decode_flat_and_nested_data_give_the_same_tensor():
    flat = v2.decode_request(body())
    nested = v2.decode_request(body(data=[[1, 2], [3, 4]]))
    assert flat.inputs[0].data.dtype == np.float32
    np.testing.assert_array_equal(flat.inputs[0].data, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(nested.inputs[0].data, flat.inputs[0].data)
    assert flat.raw_v2 == body()


def test_decode_keeps_id_parameters_and_requested_outputs():
    doc = {"id": "r1", "parameters": {"p": 1}, "outputs": [{"name": "y"}],
           "inputs": [{"name": "x", "datatype": "INT64", "shape": [1], "data": [7]}]}
    req = v2.decode_request(orjson.dumps(doc))
    assert (req.id, dict(req.parameters), req.outputs) == ("r1", {"p": 1}, ("y",))
    assert req.inputs[0].data.dtype == np.int64


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b"{}", "non-empty 'inputs'"),
        (body(data=[1, 2, 3]), "has 3 elements but shape [2, 2] needs 4"),
        (body(datatype="FP33"), "unsupported datatype 'FP33'"),
        (body(datatype="BF16"), "unsupported datatype 'BF16'"),
        (body(shape=[2, -1]), "negative"),
        (body(shape="2x2"), "'shape' must be a list of integers"),
        (body(data=[[1, 2], [3]]), "ragged"),
        (body(data=["a", "b", "c", "d"]), "must be numbers"),
        (body(datatype="INT32", data=[1.5, 2, 3, 4]), "must be integers"),
        (body(datatype="UINT8", data=[1, 2, 3, 300]), "out of range for UINT8"),
        (body(datatype="BOOL", data=[1, 0, 1, 0]), "BOOL data must be true/false"),
        (body(datatype="FP32", data=[True, False, True, False]), "found true/false"),
        (body(datatype="BYTES", data=[1, 2, 3, 4]), "BYTES data must be strings"),
        (orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}), "missing 'data'"),
        (orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}] * 2}), "duplicate input"),
    ],
)
def test_bad_requests_name_the_problem(raw, message):
    with pytest.raises(CodecError) as err:
        v2.decode_request(raw)
    assert message in str(err.value)


def test_bytes_tensors_round_trip_as_strings():
    req = v2.decode_request(body(datatype="BYTES", shape=[2], data=["hé", "b"]))
    assert list(req.inputs[0].data) == ["hé".encode(), b"b"]
    doc = orjson.loads(v2.encode_response(req.inputs, "m", None, None))
    assert doc["outputs"][0]["data"] == ["hé", "b"]


def test_encode_response_names_public_model_and_version():
    t = Tensor("y", "FP32", np.arange(4, dtype=np.float32).reshape(2, 2))
    doc = orjson.loads(v2.encode_response((t,), "fraud", "2", "abc"))
    assert doc == {"model_name": "fraud", "model_version": "2", "id": "abc",
                   "outputs": [{"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [0.0, 1.0, 2.0, 3.0]}]}


def test_undecodable_backend_response_is_a_codec_error():
    with pytest.raises(CodecError, match="backend 'b'"):
        v2.decode_response(b'{"outputs": 3}', "b")


@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=50))
def test_int32_round_trip(values):
    raw = orjson.dumps({"inputs": [{"name": "x", "datatype": "INT32", "shape": [len(values)], "data": values}]})
    req = v2.decode_request(raw)
    out = orjson.loads(v2.encode_response(req.inputs, "m", None, None))
    assert out["outputs"][0]["data"] == values


@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_fp32_round_trip_is_exact(values):
    raw = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [len(values)], "data": values}]})
    req = v2.decode_request(raw)
    out = orjson.loads(v2.encode_response(req.inputs, "m", None, None))
    assert np.array_equal(np.asarray(out["outputs"][0]["data"], dtype=np.float32), np.asarray(values, dtype=np.float32))
