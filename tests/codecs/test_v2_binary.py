"""The binary tensor data extension codec: requests with binary inputs, answers with binary outputs, and
every malformed body refused with a message naming the problem."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from isthmus.codecs import CodecError, InferResponse, Tensor, v2, v2_binary
from isthmus.codecs.tensors import BinaryOutputs


def binary_body(doc: dict, *chunks: bytes) -> tuple[bytes, str]:
    header = orjson.dumps(doc)
    return header + b"".join(chunks), str(len(header))


def bytes_layout(*items: bytes) -> bytes:
    return b"".join(len(b).to_bytes(4, "little") + b for b in items)


def binary_input(name: str, datatype: str, shape: list[int], size: int, **params) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size, **params}}


def test_fixed_size_inputs_are_views_of_the_body_not_copies():
    x = np.array([[1.5, -2.0], [3.25, 4.0]], dtype=np.float32)
    body, n = binary_body({"inputs": [binary_input("x", "FP32", [2, 2], 16)]}, x.tobytes())
    req = v2_binary.decode_request(body, n)
    (t,) = req.inputs
    np.testing.assert_array_equal(t.data, x)
    assert t.data.dtype == np.float32 and t.parameters == {}  # the wire-form size is not kept
    assert np.shares_memory(t.data, np.frombuffer(body, np.uint8))  # zero-copy
    assert req.raw_v2 is None  # never forwarded as if it were JSON


@pytest.mark.parametrize(
    "datatype, values",
    [
        ("FP16", np.array([0.5, -1.0, 65504.0], np.float16)),
        ("FP64", np.array([1e-300, 2.5], np.float64)),
        ("INT8", np.array([-128, 127], np.int8)),
        ("UINT64", np.array([2**64 - 1, 0], np.uint64)),
        ("INT64", np.array([-(2**63), 7], np.int64)),
        ("BOOL", np.array([True, False, True])),
    ],
)
def test_every_fixed_size_datatype_round_trips(datatype, values):
    body, n = binary_body({"inputs": [binary_input("x", datatype, [len(values)], values.nbytes)]}, values.tobytes())
    (t,) = v2_binary.decode_request(body, n).inputs
    assert t.datatype == datatype
    np.testing.assert_array_equal(t.data, values)
    assert v2_binary.raw_bytes(t) == values.astype(values.dtype.newbyteorder("<")).tobytes()


def test_empty_tensors_in_binary():
    doc = {"inputs": [binary_input("x", "FP32", [0, 3], 0), binary_input("s", "BYTES", [0], 0)]}
    body, n = binary_body(doc)
    x, s = v2_binary.decode_request(body, n).inputs
    assert x.data.shape == (0, 3) and s.data.shape == (0,)


def test_bytes_tensors_with_length_prefixes_any_bytes_at_all():
    items = [b"hello", b"", b"\xff\x00\xfe", "żółw".encode()]
    raw = bytes_layout(*items)
    body, n = binary_body({"inputs": [binary_input("s", "BYTES", [2, 2], len(raw))]}, raw)
    (t,) = v2_binary.decode_request(body, n).inputs
    assert t.data.shape == (2, 2) and t.data.reshape(-1).tolist() == items
    assert v2_binary.raw_bytes(t) == raw


def test_binary_and_json_inputs_mix_in_order():
    a = np.arange(3, dtype=np.int32)
    c = np.array([1.0, 2.0], np.float64)
    doc = {
        "inputs": [
            binary_input("a", "INT32", [3], 12),
            {"name": "b", "datatype": "FP32", "shape": [2], "data": [1, 2]},
            binary_input("c", "FP64", [2], 16),
        ]
    }
    body, n = binary_body(doc, a.tobytes(), c.tobytes())
    req = v2_binary.decode_request(body, n)
    assert [t.name for t in req.inputs] == ["a", "b", "c"]
    np.testing.assert_array_equal(req.inputs[0].data, a)
    np.testing.assert_array_equal(req.inputs[1].data, [1.0, 2.0])
    np.testing.assert_array_equal(req.inputs[2].data, c)


def test_a_binary_request_is_the_same_request_as_its_json_twin():
    x = np.array([1, 2, 3], np.float32)
    doc = {"inputs": [binary_input("x", "FP32", [3], 12, custom=1)], "parameters": {"p": "q"}, "id": "r1",
           "outputs": [{"name": "y", "parameters": {"classification": 2}}]}
    body, n = binary_body(doc, x.tobytes())
    b = v2_binary.decode_request(body, n)
    j = v2.decode_request(orjson.dumps({**doc, "inputs": [{"name": "x", "datatype": "FP32", "shape": [3],
                                                           "parameters": {"custom": 1}, "data": [1, 2, 3]}]}))
    assert (b.outputs, b.parameters, b.id, b.output_parameters) == (j.outputs, j.parameters, j.id, j.output_parameters)
    assert b.inputs[0].parameters == j.inputs[0].parameters == {"custom": 1}
    np.testing.assert_array_equal(b.inputs[0].data, j.inputs[0].data)


def test_output_choices_parameters_and_the_wire_form_ones_left_out():
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}],
           "parameters": {"binary_data_output": True, "priority": 1},
           "outputs": [{"name": "a", "parameters": {"binary_data": False, "classification": 3}}, {"name": "b"}]}
    req = v2.decode_request(orjson.dumps(doc))
    assert req.parameters == {"priority": 1}
    assert req.output_parameters == {"a": {"classification": 3}}
    assert req.binary_outputs == BinaryOutputs(True, {"a": False})
    assert not req.binary_outputs.wants("a") and req.binary_outputs.wants("b") and req.binary_outputs.wants("zz")
    assert req.raw_v2 is None  # re-encoded without the wire-form parameters for a V2 backend
    sent = orjson.loads(v2.encode_request(req, req.inputs))
    assert sent["outputs"] == [{"name": "a", "parameters": {"classification": 3}}, {"name": "b"}]
    assert sent["parameters"] == {"priority": 1}


def test_plain_json_keeps_its_raw_body_and_has_no_binary_choice():
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}],
                         "outputs": [{"name": "a", "parameters": {"binary_data": False}}]})
    req = v2.decode_request(body)
    assert req.binary_outputs is None and req.output_parameters == {}
    plain = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}'
    assert v2.decode_request(plain).raw_v2 == plain


F4 = np.zeros(2, np.float32).tobytes()


@pytest.mark.parametrize(
    "doc, chunks, n, message",
    [
        ({"inputs": [binary_input("x", "FP32", [2], 8)]}, [F4 + b"\0"], None,
         "9 bytes of binary data after the JSON part but the inputs' 'binary_data_size' add up to 8"),
        ({"inputs": [binary_input("x", "FP32", [2], 12)]}, [F4], None,
         "inputs[0] ('x'): 'binary_data_size' is 12 bytes but only 8 bytes of binary data are left"),
        ({"inputs": [binary_input("x", "FP32", [3], 8)]}, [F4], None,
         "inputs[0] ('x'): binary data has 8 bytes but shape [3] of FP32 needs 12 (3 elements of 4 bytes)"),
        ({"inputs": [{**binary_input("x", "FP32", [2], 8), "data": [1, 2]}]}, [F4], None,
         "inputs[0] ('x'): has both 'data' and 'binary_data_size'"),
        ({"inputs": [binary_input("x", "FP32", [2], -8)]}, [F4], None, "must be a non-negative integer, got -8"),
        ({"inputs": [binary_input("x", "FP32", [2], "8")]}, [F4], None, "must be a non-negative integer, got '8'"),
        ({"inputs": [binary_input("x", "FP32", [2], 8)]}, [F4], "999", "Inference-Header-Content-Length is 999 but the body has"),
        ({"inputs": [binary_input("x", "FP32", [2], 8)]}, [F4], "0", "Inference-Header-Content-Length is 0"),
        ({"inputs": [binary_input("x", "FP32", [2], 8)]}, [F4], "-5", "must be a number of bytes, got '-5'"),
        ({"inputs": [binary_input("x", "FP32", [2], 8)]}, [F4], "12, 12", "must be a number of bytes"),
        ({"inputs": [binary_input("x", "FP32", [2], 8)]}, [F4], "\xb2", "must be a number of bytes"),
        ({"inputs": [binary_input("x", "FP8", [2], 8)]}, [F4], None, "inputs[0] ('x'): unsupported datatype 'FP8'"),
        ({"inputs": [binary_input("x", "FP32", [-2], 8)]}, [F4], None, "negative dimensions"),
        ({"inputs": [binary_input("s", "BYTES", [2], 7)]}, [bytes_layout(b"abc")], None,
         "inputs[0] ('s'): binary data of BYTES has 1 elements but shape [2] needs 2"),
        ({"inputs": [binary_input("s", "BYTES", [1], 6)]}, [(9).to_bytes(4, "little") + b"ab"], None,
         "BYTES element 0 claims 9 bytes but only 2 remain"),
        ({"inputs": [binary_input("s", "BYTES", [1], 2)]}, [b"ab"], None, "BYTES data is truncated"),
        ({"inputs": [binary_input("b", "BOOL", [2], 2)]}, [b"\x01\x07"], None, "BOOL data must be bytes of 0"),
        ({"inputs": [binary_input("x", "FP32", [2], 8), binary_input("x", "FP32", [2], 8)]}, [F4, F4], None,
         "duplicate input name(s): x"),
        ({"inputs": [binary_input("x", "FP32", [2], 8)], "parameters": {"binary_data_output": "yes"}}, [F4], None,
         "parameter 'binary_data_output' must be true or false"),
        ({"inputs": [binary_input("x", "FP32", [2], 8)], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]},
         [F4], None, "outputs[0] ('y'): parameter 'binary_data' must be true or false"),
        ({"inputs": []}, [F4], None, "non-empty 'inputs' list"),
    ],
)
def test_malformed_binary_requests_name_the_problem(doc, chunks, n, message):
    body, length = binary_body(doc, *chunks)
    with pytest.raises(CodecError) as err:
        v2_binary.decode_request(body, n if n is not None else length)
    assert message in str(err.value)


def test_json_header_that_is_not_json_is_named():
    with pytest.raises(CodecError, match=r"the first 3 bytes of the body \(Inference-Header-Content-Length\) is not"):
        v2_binary.decode_request(b'{"i\x00\x00', "3")


def test_binary_data_size_without_the_header_is_named():
    doc = {"inputs": [binary_input("x", "FP32", [2], 8)]}
    with pytest.raises(CodecError, match="has 'binary_data_size' but the request has no Inference-Header-Content-Length"):
        v2.decode_request(orjson.dumps(doc))
    doc = {"inputs": [{**binary_input("x", "FP32", [2], 8), "data": [1, 2]}]}
    with pytest.raises(CodecError, match="has both 'data' and 'binary_data_size'"):
        v2.decode_request(orjson.dumps(doc))


# --- answers ------------------------------------------------------------------------------------


def split_answer(body: bytes, n: int | None) -> tuple[dict, bytes]:
    assert n is not None
    return orjson.loads(body[:n]), body[n:]


def test_answer_from_tensors_puts_wanted_outputs_in_binary_in_order():
    a = Tensor("a", "FP16", np.array([[1.0, 2.5]], np.float16))
    b = Tensor("b", "INT32", np.array([7, 8], np.int32))
    s = Tensor("s", "BYTES", np.array([b"x\xff", b""], dtype=object))
    body, n = v2_binary.encode_response(InferResponse(outputs=(a, b, s)), BinaryOutputs(True, {"b": False}), "m", "1", "r")
    doc, tail = split_answer(body, n)
    assert doc["model_name"] == "m" and doc["model_version"] == "1" and doc["id"] == "r"
    out = {o["name"]: o for o in doc["outputs"]}
    assert out["a"] == {"name": "a", "datatype": "FP16", "shape": [1, 2], "parameters": {"binary_data_size": 4}}
    assert out["b"]["data"] == [7, 8] and "parameters" not in out["b"]
    assert out["s"]["parameters"] == {"binary_data_size": 4 + 2 + 4}
    assert tail == a.data.tobytes() + bytes_layout(b"x\xff", b"")


def test_answer_from_a_v2_backends_json_outputs_keeps_the_json_ones_verbatim():
    verbatim = {"name": "j", "datatype": "FP32", "shape": [1], "data": [1.5], "parameters": {"kept": True}}
    response = InferResponse(v2_outputs=[{"name": "y", "datatype": "FP32", "shape": [2], "data": [1, 2]}, verbatim])
    body, n = v2_binary.encode_response(response, BinaryOutputs(False, {"y": True}), "m", None, None)
    doc, tail = split_answer(body, n)
    assert doc["outputs"][1] is not verbatim and doc["outputs"][1] == verbatim
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(tail, "<f4").tolist() == [1.0, 2.0]


def test_answer_with_no_binary_output_is_plain_json():
    response = InferResponse(outputs=(Tensor("y", "FP32", np.array([1.0], np.float32)),))
    body, n = v2_binary.encode_response(response, BinaryOutputs(False, {"other": True}), "m", None, None)
    assert n is None and orjson.loads(body)["outputs"][0]["data"] == [1.0]


def test_answer_from_predictions_is_translated_then_binary():
    body, n = v2_binary.encode_response(InferResponse(predictions=[[1, 2]]), BinaryOutputs(True), "m", None, None)
    doc, tail = split_answer(body, n)
    assert doc["outputs"][0]["name"] == "output-0" and np.frombuffer(tail, "<f4").tolist() == [1.0, 2.0]
