"""The TF Serving REST codec at the ingress: an app's :predict body (row or columnar) and its answer."""

import numpy as np
import orjson
import pytest

from isthmus.codecs import CodecError, InferResponse, Tensor
from isthmus.codecs.tfserving import decode_predict_request, encode_predict_response


def decode(doc):
    return decode_predict_request(orjson.dumps(doc))


def test_row_instances_stay_as_sent_with_the_signature():
    req, fmt = decode({"signature_name": "times_three", "instances": [[1, 2], [3, 4]]})
    assert fmt == "row" and req.instances == [[1, 2], [3, 4]] and req.inputs is None
    assert req.signature_name == "times_three"
    req, _ = decode({"instances": [{"a": 1, "b": "x"}]})  # TF Serving's named rows: passed on as they are
    assert req.instances == [{"a": 1, "b": "x"}] and req.signature_name is None


def test_columnar_one_unnamed_tensor_is_the_same_as_row_instances():
    req, fmt = decode({"inputs": [[1.0, 2.0]]})
    assert fmt == "columnar" and req.instances == [[1.0, 2.0]] and req.inputs is None


def test_columnar_named_tensors_are_typed_from_their_json():
    req, fmt = decode({"inputs": {
        "tag": ["foo", "bar"], "signal": [[1, 2, 3], [3, 4, 5]], "sensor": [[0.5, 1], [2, 3]],
        "flag": [True, False], "image_bytes": [{"b64": "aW1n"}, {"b64": "AP8="}],
    }})  # fmt: skip
    assert fmt == "columnar" and req.instances is None
    got = {t.name: t for t in req.inputs}
    assert (got["tag"].datatype, got["tag"].data.tolist()) == ("BYTES", [b"foo", b"bar"])
    assert (got["signal"].datatype, got["signal"].shape) == ("INT64", (2, 3))  # whole numbers
    assert (got["sensor"].datatype, got["sensor"].data.tolist()) == ("FP32", [[0.5, 1.0], [2.0, 3.0]])
    assert got["flag"].datatype == "BOOL"
    assert (got["image_bytes"].datatype, got["image_bytes"].data.tolist()) == ("BYTES", [b"img", b"\x00\xff"])


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"instances": [1], "inputs": [1]}, "either 'instances'"),
        ({"inputs": {}}, "empty object"),
        ({"inputs": 3}, "non-empty list"),
        ({"inputs": []}, "non-empty list"),
        ({"inputs": {"a": [[1], [2, 3]]}}, "ragged"),
        ({"inputs": {"a": [{"b64": "not base64!"}]}}, "not valid base64"),
        ({"inputs": {"a": [{"b64": "aW1n"}, 1]}}, "only strings"),
        ({"instances": []}, "non-empty 'instances'"),
        ({"signature_name": 3, "instances": [1]}, "'signature_name' must be a string"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_requests_name_the_problem(doc, message):
    with pytest.raises(CodecError, match=message):
        decode(doc)


def response(*tensors):
    return InferResponse(outputs=tuple(Tensor(n, "FP32", np.asarray(v, dtype=np.float32)) for n, v in tensors))


def test_answers_in_the_format_asked():
    one = response(("y", [[1.5, 2.5]]))
    assert orjson.loads(encode_predict_response(one, "row")) == {"predictions": [[1.5, 2.5]]}
    assert orjson.loads(encode_predict_response(one, "columnar")) == {"outputs": [[1.5, 2.5]]}
    two = response(("a", [1, 2]), ("b", [3, 4]))
    assert orjson.loads(encode_predict_response(two, "row")) == {"predictions": [{"a": 1, "b": 3}, {"a": 2, "b": 4}]}
    assert orjson.loads(encode_predict_response(two, "columnar")) == {"outputs": {"a": [1, 2], "b": [3, 4]}}
    rows = InferResponse(predictions=[[1, 2]])  # a row backend's answer to a columnar app
    assert orjson.loads(encode_predict_response(rows, "columnar")) == {"outputs": [[1, 2]]}


def test_named_rows_become_one_tensor_per_name_for_tensor_backends():
    from isthmus.codecs import TensorNaming
    from isthmus.codecs.convert import request_tensors

    req, _ = decode({"instances": [{"tag": "a", "signal": [1, 2]}, {"tag": "b", "signal": [3, 4]}]})
    got = {t.name: t for t in request_tensors(req, TensorNaming(datatype="INT32"))}
    assert (got["tag"].datatype, got["tag"].data.tolist()) == ("BYTES", [b"a", b"b"])
    assert (got["signal"].datatype, got["signal"].data.tolist()) == ("INT32", [[1, 2], [3, 4]])
    req, _ = decode({"instances": [{"a": 1}, {"b": 2}]})
    with pytest.raises(CodecError, match="differing keys"):
        request_tensors(req, TensorNaming())


def test_outputs_named_bytes_are_base64_as_in_tf_serving():
    raw = Tensor("image_bytes", "BYTES", np.array([b"\x00\xff", b"ok"], dtype=object))
    text = Tensor("label", "BYTES", np.array([b"cat", b"dog"], dtype=object))
    answer = InferResponse(outputs=(raw, text))
    assert orjson.loads(encode_predict_response(answer, "columnar")) == {
        "outputs": {"image_bytes": [{"b64": "AP8="}, {"b64": "b2s="}], "label": ["cat", "dog"]}
    }
    assert orjson.loads(encode_predict_response(answer, "row")) == {"predictions": [
        {"image_bytes": {"b64": "AP8="}, "label": "cat"}, {"image_bytes": {"b64": "b2s="}, "label": "dog"},
    ]}  # fmt: skip
    with pytest.raises(CodecError, match="not valid UTF-8"):
        encode_predict_response(InferResponse(outputs=(Tensor("x", "BYTES", np.array([b"\xff"], dtype=object)),)), "row")
