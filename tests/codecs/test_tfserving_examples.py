"""TF Serving Classify / Regress JSON <-> tf.Example protos, by TF Serving's JSON rules."""

import orjson
import pytest

from isthmus.codecs import CodecError
from isthmus.codecs import tfserving_examples as ex
from isthmus.protos.tfserving.tensorflow_serving.apis import classification_pb2, regression_pb2


def test_values_become_feature_kinds_as_in_tf_serving():
    req = ex.decode_request(orjson.dumps({
        "signature_name": "tensorflow/serving/classify",
        "examples": [{"x": 1.5, "n": [1, 2], "ok": True, "s": "seaside", "img": {"b64": "aW1n"}}],
    }))  # fmt: skip
    assert req.signature_name == "tensorflow/serving/classify"
    f = req.input.example_list.examples[0].features.feature
    assert list(f["x"].float_list.value) == [1.5]
    assert list(f["n"].int64_list.value) == [1, 2]
    assert list(f["ok"].int64_list.value) == [1]
    assert list(f["s"].bytes_list.value) == [b"seaside"] and list(f["img"].bytes_list.value) == [b"img"]


def test_context_and_the_json_way_back():
    body = {"context": {"c": "shared"}, "examples": [{"x": 1.0}, {"x": 2.5, "raw": {"b64": "AP8="}}]}
    req = ex.decode_request(orjson.dumps(body))
    assert req.input.WhichOneof("kind") == "example_list_with_context" and ex.example_count(req) == 2
    assert orjson.loads(ex.encode_request(req)) == {
        "context": {"c": ["shared"]}, "examples": [{"x": [1.0]}, {"x": [2.5], "raw": [{"b64": "AP8="}]}],
    }  # fmt: skip


@pytest.mark.parametrize(
    "doc, message",
    [
        ({}, "non-empty 'examples'"),
        ({"examples": []}, "non-empty 'examples'"),
        ({"examples": [1]}, r"examples\[0\] must be a JSON object"),
        ({"examples": [{"x": [1, 2.5]}]}, "a float value among int64 values"),
        ({"examples": [{"x": None}]}, "unexpected JSON value null"),
        ({"examples": [{"x": [[1]]}]}, "unexpected JSON value"),
        ({"examples": [{"x": 2**63}]}, "does not fit an int64"),
        ({"examples": [{"x": 1}], "signature_name": 1}, "'signature_name' must be a string"),
    ],
)
def test_bad_examples_name_the_feature(doc, message):
    with pytest.raises(CodecError, match=message):
        ex.decode_request(orjson.dumps(doc))


def test_results_both_ways():
    c = ex.decode_classification(orjson.dumps({"results": [[["a", 0.5], ["", 2]]]}), "b")
    assert isinstance(c, classification_pb2.ClassificationResult)
    assert orjson.loads(ex.encode_classification(c)) == {"results": [[["a", 0.5], ["", 2.0]]]}
    r = ex.decode_regression(orjson.dumps({"result": [3.5, 4]}), "b")  # the API page's spelling too
    assert isinstance(r, regression_pb2.RegressionResult)
    assert orjson.loads(ex.encode_regression(r)) == {"results": [3.5, 4.0]}
    with pytest.raises(CodecError, match="not a \\[label, score\\] pair"):
        ex.decode_classification(orjson.dumps({"results": [[["a"]]]}), "b")
    with pytest.raises(CodecError, match="no 'results' list"):
        ex.decode_regression(orjson.dumps({"predictions": [1]}), "b")
    with pytest.raises(CodecError, match="2 results for 1 examples"):
        ex.check_count(2, ex.decode_request(b'{"examples": [{"x": 1}]}'))
