import numpy as np
import orjson
import pytest

from isthmus.codecs import (
    CodecError,
    InferRequest,
    InferResponse,
    Tensor,
    TensorNaming,
    tfserving,
    v1,
)
from isthmus.codecs.convert import (
    request_instances,
    request_tensors,
    response_predictions,
    response_tensors,
)

NAMING = TensorNaming("in", "out", "FP32")


def test_v1_instances_become_one_named_tensor():
    req = v1.decode_request(b'{"instances": [[1, 2], [3, 4]]}')
    (t,) = request_tensors(req, NAMING)
    assert (t.name, t.datatype, t.shape) == ("in", "FP32", (2, 2))
    np.testing.assert_array_equal(t.data, [[1, 2], [3, 4]])


def test_string_and_bool_instances_keep_their_kind():
    (t,) = request_tensors(InferRequest(instances=["a", "b"]), NAMING)
    assert t.datatype == "BYTES" and list(t.data) == [b"a", b"b"]
    (t,) = request_tensors(InferRequest(instances=[True, False]), NAMING)
    assert t.datatype == "BOOL"


def test_object_instances_become_named_tensors_only_when_their_keys_agree():
    (a,) = request_tensors(InferRequest(instances=[{"a": 1}, {"a": 2}]), NAMING)  # TF Serving's named rows
    assert a.name == "a" and a.data.tolist() == [1, 2]
    with pytest.raises(CodecError, match="differing keys"):
        request_tensors(InferRequest(instances=[{"a": 1}, [1]]), NAMING)
    with pytest.raises(CodecError, match="rectangular"):
        request_tensors(InferRequest(instances=[[{"a": 1}]]), NAMING)


def test_tensors_become_rows():
    t = Tensor("x", "INT64", np.array([[1, 2], [3, 4]]))
    assert request_instances(InferRequest(inputs=(t,))) == [[1, 2], [3, 4]]
    u = Tensor("y", "BYTES", np.array([b"p", b"q"], dtype=object))
    assert request_instances(InferRequest(inputs=(t, u))) == [{"x": [1, 2], "y": "p"}, {"x": [3, 4], "y": "q"}]


def test_tensors_with_different_batch_cannot_be_rows():
    t = Tensor("x", "INT64", np.zeros((2, 2), dtype=np.int64))
    u = Tensor("y", "INT64", np.zeros((3,), dtype=np.int64))
    with pytest.raises(CodecError, match="batch"):
        request_instances(InferRequest(inputs=(t, u)))


def test_predictions_to_tensors_single_and_named():
    (t,) = response_tensors(InferResponse(predictions=[[1.5, 2.5]], naming=NAMING))
    assert (t.name, t.datatype, t.shape) == ("out", "FP32", (1, 2))
    a, b = response_tensors(InferResponse(predictions=[{"p": 1, "q": "x"}, {"p": 2, "q": "y"}], naming=NAMING))
    assert (a.name, a.datatype, list(a.data)) == ("p", "FP32", [1.0, 2.0])
    assert (b.name, b.datatype, list(b.data)) == ("q", "BYTES", [b"x", b"y"])


def test_tensors_to_predictions():
    t = Tensor("y", "FP32", np.array([[1, 2]], dtype=np.float32))
    assert response_predictions(InferResponse(outputs=(t,))) == [[1.0, 2.0]]


def test_tfserving_row_and_columnar_encodings():
    t = Tensor("x", "FP32", np.array([[1, 2]], dtype=np.float32))
    u = Tensor("z", "INT32", np.array([[3]], dtype=np.int32))
    assert orjson.loads(tfserving.encode_columnar((t,), "serving_default")) == {
        "signature_name": "serving_default", "inputs": [[1.0, 2.0]]}
    assert orjson.loads(tfserving.encode_columnar((t, u), None)) == {"inputs": {"x": [[1.0, 2.0]], "z": [[3]]}}
    assert orjson.loads(tfserving.encode_row([[1, 2]], None)) == {"instances": [[1, 2]]}


def test_tfserving_responses():
    r = tfserving.decode_response(b'{"outputs": {"a": [[1.0]], "b": [2]}}', "tf", NAMING)
    assert [t.name for t in r.outputs] == ["a", "b"]
    r = tfserving.decode_response(b'{"outputs": [[1.0, 2.0]]}', "tf", NAMING)
    assert r.outputs[0].name == "out" and r.outputs[0].shape == (1, 2)
    assert tfserving.decode_response(b'{"predictions": [1]}', "tf", NAMING).predictions == [1]
    with pytest.raises(CodecError, match="answered an error: boom"):
        tfserving.decode_response(b'{"error": "boom"}', "tf", NAMING)
