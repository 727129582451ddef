"""Free-form JSON mappings: pointers, compiling a mapping, placing inputs, reading outputs."""

import math

import jsonpointer
import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.codecs import CodecError, InferRequest, Tensor, TensorNaming
from isthmus.codecs.convert import response_predictions, response_tensors
from isthmus.codecs.jsonmap import compile_request, compile_response
from isthmus.common.json_pointers import MappingError, check_json, parse_pointer, pointer_text

NAMING = TensorNaming("input-0", "output-0", "FP32")


def tensors(**arrays) -> InferRequest:
    return InferRequest(inputs=tuple(Tensor(n.replace("_", "-"), "FP32", np.asarray(a, np.float32))
                                     for n, a in arrays.items()))


# --- pointers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, parts",
    [("", ()), ("/", ("",)), ("/input", ("input",)), ("/a~1b/0/~0x", ("a/b", "0", "~x")), ("/a/-", ("a", "-"))],
)
def test_pointer_syntax_per_rfc_6901(text, parts):
    assert parse_pointer(text) == parts
    assert pointer_text(parts) == text


@pytest.mark.parametrize("text, reason", [("input", "must start with /"), ("/a~2", "invalid escape"), ("/a~", "escape"),
                                          (3, "must be a string")])
def test_bad_pointers_are_named(text, reason):
    with pytest.raises(MappingError, match=reason) as err:
        parse_pointer(text)
    assert isinstance(err.value, ValueError)  # pydantic reports it at the field


@given(st.lists(st.text(max_size=8), max_size=5))
def test_pointer_text_and_parse_are_inverse(parts):
    assert parse_pointer(pointer_text(parts)) == tuple(parts)


# --- the request ----------------------------------------------------------------------------------


def test_seed_000_request_shape():
    m = compile_request({}, {"input-0": "/input"})
    body = orjson.loads(m.encode(tensors(input_0=[[1.0, 2.0], [3.0, 4.5]])))
    assert body == {"input": [[1.0, 2.0], [3.0, 4.5]]}


def test_template_constants_are_kept_and_missing_objects_created():
    m = compile_request({"parameters": {"k": 3}, "inputs": [{"name": "x", "data": None}]},
                        {"a": "/payload/features/a", "b": "/inputs/0/data", "c": "/inputs/-"})
    req = tensors(a=[1.0], b=[[2.0]], c=[3.0])
    body = orjson.loads(m.encode(req))
    assert body == {"parameters": {"k": 3}, "payload": {"features": {"a": [1.0]}},
                    "inputs": [{"name": "x", "data": [[2.0]]}, [3.0]]}
    # the template is not changed by a request
    assert orjson.loads(m.encode(req)) == body


def test_two_appends_to_one_array_go_in_config_order():
    m = compile_request({"xs": []}, {"a": "/xs/-", "b": "/xs/-"})
    assert orjson.loads(m.encode(tensors(a=[1.0], b=[2.0]))) == {"xs": [[1.0], [2.0]]}


def test_the_whole_body_can_be_the_input():
    m = compile_request({}, {"input-0": ""})
    assert orjson.loads(m.encode(tensors(input_0=[1.0, 2.0]))) == [1.0, 2.0]


def test_v2_input_names_must_be_the_mappings():
    m = compile_request({}, {"text": "/text", "lang": "/lang"})
    with pytest.raises(CodecError, match="unknown input '../../etc/passwd': this model takes 'text', 'lang'"):
        m.encode(InferRequest(inputs=(Tensor("../../etc/passwd", "FP32", np.zeros(1, np.float32)),)))
    with pytest.raises(CodecError, match="missing input 'lang'"):
        m.encode(InferRequest(inputs=(Tensor("text", "BYTES", np.array([b"hi"], dtype=object)),)))


def test_bytes_inputs_go_as_strings():
    m = compile_request({}, {"text": "/text"})
    req = InferRequest(inputs=(Tensor("text", "BYTES", np.array([b"good", "b\u00e9".encode()], dtype=object)),))
    assert orjson.loads(m.encode(req)) == {"text": ["good", "b\u00e9"]}
    bad = InferRequest(inputs=(Tensor("text", "BYTES", np.array([b"\xff"], dtype=object)),))
    with pytest.raises(CodecError, match="not valid UTF-8"):
        m.encode(bad)


def test_v1_instances_go_verbatim_for_one_input_and_by_column_for_several():
    one = compile_request({}, {"input-0": "/input"})
    instances = [{"text": "great", "n": 1}, [1, "two"]]  # any JSON: the backend decides
    assert orjson.loads(one.encode(InferRequest(instances=instances))) == {"input": instances}
    two = compile_request({}, {"text": "/t", "lang": "/l"})
    rows = [{"text": "hi", "lang": "en"}, {"text": "hallo", "lang": "de"}]
    assert orjson.loads(two.encode(InferRequest(instances=rows))) == {"t": ["hi", "hallo"], "l": ["en", "de"]}
    with pytest.raises(CodecError, match="objects with the keys 'text', 'lang'"):
        two.encode(InferRequest(instances=[{"text": "hi"}]))


@pytest.mark.parametrize(
    "body, inputs, reason",
    [
        ({}, {}, "at least one input"),
        ({}, {"x": "input"}, "bad JSON pointer 'input'"),
        ({"input": 3}, {"x": "/input/value"}, "goes through /input, which is a number in the body"),
        ({"xs": [1]}, {"x": "/xs/1"}, "array of 1 in the body; '1' must be an index below 1 or '-'"),
        ({"xs": [1]}, {"x": "/xs/01"}, "'01' must be an index"),
        ({"xs": []}, {"x": "/xs/-/a"}, "'-' must be an index below 0"),
        ({}, {"a": "/x", "b": "/x/y"}, r"inputs 'a' \(/x\) and 'b' \(/x/y\) overlap"),
        ({}, {"a": "/x", "b": "/x"}, "overlap"),
        ({}, {"a": "", "b": "/x"}, "whole body"),
        ({"k": 1}, {"a": ""}, "whole body"),
        ({"k": math.inf}, {"a": "/x"}, "/k: inf is not a JSON number"),
        ({1: 2}, {"a": "/x"}, "key 1 is not a string"),
        ({"k": {1, 2}}, {"a": "/x"}, "/k: a set is not a JSON value"),
        (None, {"a": "/x"}, "goes through the body, which is null"),
    ],
)
def test_bad_request_mappings_are_refused_when_compiled(body, inputs, reason):
    with pytest.raises(MappingError, match=reason):
        compile_request(body, inputs)


json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5) | st.floats(
    allow_nan=False, allow_infinity=False)
json_value = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.text(max_size=4), kids, max_size=3), max_leaves=8)
member_paths = st.lists(st.text(max_size=6), min_size=1, max_size=4)


@given(member_paths, st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=6))
def test_an_input_lands_where_the_library_resolves_its_pointer(parts, values):
    """The jsonpointer library is the oracle: what we place at a pointer, it finds there."""
    pointer = pointer_text(parts)
    m = compile_request({}, {"x": pointer})
    doc = orjson.loads(m.encode(tensors(x=values)))
    assert jsonpointer.resolve_pointer(doc, pointer) == np.asarray(values, np.float32).tolist()
    # and the response map reads it back from the same pointer
    back = compile_response({"y": pointer}).decode(orjson.dumps(doc), "b", NAMING)
    assert back.predictions == np.asarray(values, np.float32).tolist()


@given(json_value)
def test_plain_json_passes_the_template_check(value):
    check_json(value)


# --- the answer -----------------------------------------------------------------------------------


def test_seed_000_answer_shape_one_list_output_is_kept_as_json():
    m = compile_response({"output-0": "/output"})
    r = m.decode(b'{"output": [[3.5, 5.5], [7.5, 10.5]]}', "seed", NAMING)
    assert r.predictions == [[3.5, 5.5], [7.5, 10.5]]  # a V1 app gets it verbatim
    (t,) = response_tensors(r)  # a V2 app gets a typed tensor named after the output
    assert (t.name, t.datatype, t.shape) == ("output-0", "FP32", (2, 2))


def test_output_named_in_the_mapping_and_typed_by_the_naming_config():
    m = compile_response({"scores": "/result/scores", "label": "/result/label", "n": "/n"})
    doc = {"result": {"scores": [0.25, 0.75], "label": ["pos", "neg"]}, "n": 2}
    r = m.decode(orjson.dumps(doc), "b", TensorNaming(datatype="FP64"))
    got = {t.name: t for t in r.outputs}
    assert got["scores"].datatype == "FP64" and got["scores"].data.tolist() == [0.25, 0.75]
    assert got["label"].datatype == "BYTES" and got["label"].data.tolist() == [b"pos", b"neg"]
    assert got["n"].shape == () and got["n"].data.tolist() == 2


def test_several_outputs_reach_a_v1_app_as_rows():
    m = compile_response({"scores": "/scores", "label": "/label"})
    r = m.decode(b'{"scores": [0.25, 0.75], "label": ["pos", "neg"]}', "b", NAMING)
    assert response_predictions(r) == [{"scores": 0.25, "label": "pos"}, {"scores": 0.75, "label": "neg"}]


def test_single_output_renamed_from_the_naming_default():
    r = compile_response({"probabilities": "/p"}).decode(b'{"p": [0.5]}', "b", NAMING)
    assert response_tensors(r)[0].name == "probabilities"


def test_whole_answer_pointer():
    r = compile_response({"output-0": ""}).decode(b"[1, 2]", "b", NAMING)
    assert r.predictions == [1, 2]


@pytest.mark.parametrize(
    "body, pointer, reason",
    [
        (b'{"predictions": [1], "token": "s3cr3t-value"}', "/output",
         "has nothing at /output: the answer has no member 'output' \\(it has 'predictions', 'token'\\)"),
        (b'{"output": [1, 2]}', "/output/2", "nothing at /output/2: /output is an array of 2"),
        (b'{"output": 3}', "/output/x", "nothing at /output/x: /output is a number"),
        (b'[1]', "/output", "the answer is an array of 1"),
    ],
)
def test_a_pointer_that_finds_nothing_names_it_and_never_quotes_the_answer(body, pointer, reason):
    with pytest.raises(CodecError, match=reason) as err:
        compile_response({"out": pointer}).decode(body, "b", NAMING)
    assert "s3cr3t" not in str(err.value) and "backend 'b'" in str(err.value)


def test_not_json_answer():
    with pytest.raises(CodecError, match="response of backend 'b' is not valid JSON"):
        compile_response({"out": "/o"}).decode(b"Internal Server Error", "b", NAMING)


def test_an_output_that_cannot_be_a_tensor():
    m = compile_response({"a": "/a", "b": "/b"})
    with pytest.raises(CodecError, match=r"output 'b' \(at /b\)"):
        m.decode(b'{"a": [1], "b": [[1], [2, 3]]}', "b", NAMING)


def test_bad_response_mappings_are_refused_when_compiled():
    with pytest.raises(MappingError, match="at least one output"):
        compile_response({})
    with pytest.raises(MappingError, match="bad JSON pointer 'output'"):
        compile_response({"o": "output"})
