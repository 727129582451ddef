"""The fields of an answer: no nulls the Open Inference Protocol does not allow, and whose ``id``."""

import orjson
import pytest

from isthmus.codecs import CodecError, InferResponse, v2
from isthmus.codecs.convert import answer_id, response_tensors, response_v2_outputs

# what a real KServe 0.21 V2 REST server answers (tests/peers/kserve), nulls included
KSERVE = (b'{"model_name":"m","model_version":null,"id":"fcc39996","parameters":null,"outputs":[{"name":"output-0",'
          b'"shape":[1,2],"datatype":"FP32","parameters":null,"data":[2.0,4.0]}]}')


def test_kserve_nulls_are_dropped_once_when_the_answer_is_decoded():
    r = v2.decode_response(KSERVE, "k")
    assert r.v2_outputs == [{"name": "output-0", "shape": [1, 2], "datatype": "FP32", "data": [2.0, 4.0]}]
    assert (r.id, dict(r.parameters)) == ("fcc39996", {})
    out = orjson.loads(v2.encode_response_doc(response_v2_outputs(r), "pub", None, answer_id(None, r, False), r.parameters))
    assert out == {"model_name": "pub", "id": "fcc39996", "outputs": r.v2_outputs}


def test_null_parameter_values_are_dropped_and_the_rest_kept_in_place():
    doc = {"parameters": {"a": 1, "gone": None}, "outputs": [
        {"name": "o", "parameters": {"content_type": None, "keep": "k"}, "datatype": "INT32", "shape": [1], "data": [1]},
        {"name": "p", "datatype": "INT32", "shape": [1], "parameters": {"x": None}, "data": [2]},
    ]}
    r = v2.response_from_doc(doc, "b")
    assert dict(r.parameters) == {"a": 1}
    assert r.v2_outputs[0] == {"name": "o", "parameters": {"keep": "k"}, "datatype": "INT32", "shape": [1], "data": [1]}
    assert list(r.v2_outputs[0]) == ["name", "parameters", "datatype", "shape", "data"]
    assert r.v2_outputs[1] == {"name": "p", "datatype": "INT32", "shape": [1], "data": [2]}
    assert doc["outputs"][0]["parameters"] == {"content_type": None, "keep": "k"}  # the backend's doc is not changed
    # the cleaned answer translates to gRPC and V1 without a "null" string parameter
    assert [dict(t.parameters) for t in response_tensors(r)] == [{"keep": "k"}, {}]


def test_clean_outputs_are_passed_as_they_came():
    doc = orjson.loads(b'{"outputs":[{"name":"o","datatype":"FP32","shape":[1],"data":[1.0],"parameters":{"p":1}}]}')
    r = v2.response_from_doc(doc, "b")
    assert r.v2_outputs is doc["outputs"] and r.v2_outputs[0] is doc["outputs"][0]


@pytest.mark.parametrize(
    "tensor, message",
    [
        ({"name": None, "datatype": "FP32", "shape": [1], "data": [1]}, "name and datatype must be strings"),
        ({"name": "o", "datatype": None, "shape": [1], "data": [1]}, "name and datatype must be strings"),
        ({"name": "o", "datatype": "FP32", "shape": None, "data": [1]}, "shape a list"),
        ({"name": "o", "datatype": "FP32", "shape": [1], "data": None}, "('o'): 'data' is null"),
        ({"name": "o", "datatype": "FP32", "shape": [1], "data": [1], "parameters": "x"}, "must be a JSON object"),
    ],
)
def test_nulls_that_cannot_be_repaired_are_the_backends_fault(tensor, message):
    with pytest.raises(CodecError) as err:
        v2.response_from_doc({"outputs": [tensor]}, "backend 'b'")
    assert str(err.value).startswith("backend 'b': outputs[0]") and message in str(err.value)


def test_answer_id_is_the_apps_else_the_backend_calls():
    r = InferResponse(outputs=(), id="backend-uuid")
    assert answer_id("app-1", r, False) == "app-1"
    assert answer_id("app-1", r, True) == "app-1"
    assert answer_id(None, r, False) == "backend-uuid"
    assert answer_id(None, r, True) is None  # a cache hit made no backend call
    assert answer_id(None, InferResponse(outputs=()), False) is None
