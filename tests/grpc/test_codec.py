"""The V2 gRPC codec: typed and raw contents, BYTES, FP16, errors naming the problem, round trips."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from isthmus.codecs import CodecError, InferRequest, Tensor
from isthmus.codecs import v2_grpc as g
from isthmus.codecs.tensors import DATATYPES

pb = g.pb


def request(**tensor) -> pb.ModelInferRequest:
    msg = pb.ModelInferRequest(model_name="m")
    t = {"name": "x", "datatype": "FP32", "shape": [2, 2], **tensor}
    contents = t.pop("contents", None)
    inp = msg.inputs.add(**t)
    if contents:
        for field, values in contents.items():
            getattr(inp.contents, field).extend(values)
    return msg


def test_typed_contents_decode():
    req = g.decode_request(request(contents={"fp32_contents": [1, 2, 3, 4]}))
    (t,) = req.inputs
    assert (t.name, t.datatype, t.data.dtype) == ("x", "FP32", np.float32)
    np.testing.assert_array_equal(t.data, [[1, 2], [3, 4]])


def test_raw_contents_decode_little_endian():
    msg = request()
    msg.raw_input_contents.append(np.arange(4, dtype="<f4").tobytes())
    np.testing.assert_array_equal(g.decode_request(msg).inputs[0].data, [[0, 1], [2, 3]])


def test_fp16_only_raw():
    msg = request(datatype="FP16", shape=[3])
    msg.raw_input_contents.append(np.array([0.5, 1, -2], dtype="<f2").tobytes())
    t = g.decode_request(msg).inputs[0]
    assert t.data.dtype == np.float16
    np.testing.assert_array_equal(t.data, [0.5, 1, -2])
    with pytest.raises(CodecError, match=r"inputs\[0\] \('x'\): FP16 data must be sent in raw_input_contents"):
        g.decode_request(request(datatype="FP16", shape=[1]))
    with pytest.raises(CodecError, match="FP16 data must be in raw_input_contents .*, found fp32_contents"):
        g.decode_request(request(datatype="FP16", shape=[1], contents={"fp32_contents": [1.0]}))
    with pytest.raises(CodecError, match="no typed contents field"):
        g.encode_request(InferRequest(), (Tensor("h", "FP16", np.zeros(1, np.float16)),), "m", raw=False)


def test_bytes_raw_and_typed():
    msg = request(datatype="BYTES", shape=[3])
    msg.raw_input_contents.append(b"".join(len(s).to_bytes(4, "little") + s for s in (b"ab", b"", "é".encode())))
    t = g.decode_request(msg).inputs[0]
    assert list(t.data) == [b"ab", b"", "é".encode()]
    typed = g.decode_request(request(datatype="BYTES", shape=[1, 2], contents={"bytes_contents": [b"a", b"bc"]}))
    assert typed.inputs[0].data.tolist() == [[b"a", b"bc"]]


def test_id_parameters_and_requested_outputs_are_kept():
    msg = request(contents={"fp32_contents": [1, 2, 3, 4]})
    msg.id = "r1"
    msg.parameters["flag"].bool_param = True
    msg.parameters["n"].int64_param = -3
    msg.parameters["s"].string_param = "v"
    msg.parameters["f"].double_param = 0.5
    msg.outputs.add(name="y")
    req = g.decode_request(msg)
    assert (req.id, req.outputs) == ("r1", ("y",))
    assert dict(req.parameters) == {"flag": True, "n": -3, "s": "v", "f": 0.5}


@pytest.mark.parametrize(
    "msg, message",
    [
        (pb.ModelInferRequest(model_name="m"), "request needs at least one input"),
        (request(contents={"fp32_contents": [1, 2, 3]}), r"inputs\[0\] \('x'\): 'fp32_contents' has 3 elements but "
                                                         r"shape \[2, 2\] needs 4"),
        (request(contents={"int_contents": [1, 2, 3, 4]}), r"FP32 data must be in 'fp32_contents', found int_contents"),
        (request(datatype="BF16", contents={"fp32_contents": [1, 2, 3, 4]}), "unsupported datatype 'BF16'"),
        (request(datatype="INT8", shape=[1], contents={"int_contents": [300]}), r"out of range for INT8 \[-128, 127\]"),
        (request(name="", contents={"fp32_contents": [1, 2, 3, 4]}), r"inputs\[0\]: 'name' must be"),
        (request(shape=[-1, 4], contents={"fp32_contents": [1]}), "negative dimensions"),
    ],
)
def test_bad_requests_name_the_problem(msg, message):
    with pytest.raises(CodecError, match=message):
        g.decode_request(msg)


def test_bad_raw_contents_name_the_problem():
    msg = request()
    msg.raw_input_contents.append(b"\0" * 15)
    with pytest.raises(CodecError, match=r"inputs\[0\] \('x'\): raw data has 15 bytes but shape \[2, 2\] of FP32 needs 16"):
        g.decode_request(msg)
    both = request(contents={"fp32_contents": [1, 2, 3, 4]})
    both.raw_input_contents.append(b"\0" * 16)
    with pytest.raises(CodecError, match="both in raw_input_contents and in 'contents'"):
        g.decode_request(both)
    two = request()
    two.inputs.add(name="y", datatype="FP32", shape=[1])
    two.raw_input_contents.append(b"\0" * 16)
    with pytest.raises(CodecError, match="raw_input_contents has 1 entries but the request has 2 inputs"):
        g.decode_request(two)
    cut = request(datatype="BYTES", shape=[1])
    cut.raw_input_contents.append(b"\x05\0\0\0ab")
    with pytest.raises(CodecError, match="claims 5 bytes but only 2 remain"):
        g.decode_request(cut)


def test_duplicate_inputs_refused():
    msg = request(contents={"fp32_contents": [1, 2, 3, 4]})
    msg.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1)
    with pytest.raises(CodecError, match="duplicate input name"):
        g.decode_request(msg)


def test_bad_backend_response_names_the_backend():
    resp = pb.ModelInferResponse(model_name="m")
    resp.outputs.add(name="y", datatype="FP32", shape=[2])
    resp.raw_output_contents.append(b"\0" * 4)
    with pytest.raises(CodecError, match=r"backend 'b': outputs\[0\] \('y'\): raw data has 4 bytes"):
        g.decode_response(resp, "backend 'b'")


def test_parameters_without_a_grpc_type_go_as_json_text():
    req = InferRequest(parameters={"obj": {"a": [1, 2]}, "none": None, "big": 2**63})
    msg = g.encode_request(req, (Tensor("x", "FP32", np.zeros(1, np.float32)),), "m")
    assert msg.parameters["obj"].string_param == '{"a":[1,2]}'
    assert msg.parameters["none"].string_param == "null"
    assert msg.parameters["big"].uint64_param == 2**63


def test_metadata_round_trip():
    doc = {"name": "m", "versions": ["1"], "platform": "p",
           "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}], "outputs": []}
    assert g.metadata_from_pb(g.metadata_to_pb(doc)) == doc


# --- round trips -------------------------------------------------------------------------------

NUMERIC = [d for d in DATATYPES if d != "BYTES"]
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def tensors(draw, name: str) -> Tensor:
    datatype = draw(st.sampled_from(list(DATATYPES)))
    shape = draw(shapes)
    if datatype == "BYTES":
        n = int(np.prod(shape))
        arr = np.empty(n, dtype=object)
        arr[:] = draw(st.lists(st.binary(max_size=8), min_size=n, max_size=n))
        return Tensor(name, datatype, arr.reshape(shape))
    arr = draw(hnp.arrays(DATATYPES[datatype], shape))
    return Tensor(name, datatype, arr)


@st.composite
def requests(draw) -> tuple[InferRequest, tuple[Tensor, ...]]:
    n = draw(st.integers(1, 3))
    ts = tuple(draw(tensors(f"in-{i}")) for i in range(n))
    params = draw(st.dictionaries(st.text(min_size=1, max_size=5),
                                  st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1),
                                            st.floats(allow_nan=False), st.text(max_size=5)), max_size=3))
    rid = draw(st.one_of(st.none(), st.text(min_size=1, max_size=8)))
    return InferRequest(inputs=ts, parameters=params, id=rid, outputs=("out",)), ts


def assert_same(a: Tensor, b: Tensor) -> None:
    assert (a.name, a.datatype, a.shape) == (b.name, b.datatype, b.shape)
    assert a.data.dtype == b.data.dtype
    if a.data.dtype.kind == "f":
        np.testing.assert_array_equal(a.data, b.data)  # NaN == NaN here
    else:
        assert a.data.tolist() == b.data.tolist()


@settings(max_examples=150, deadline=None)
@given(requests(), st.booleans())
def test_request_round_trip(drawn, raw):
    req, ts = drawn
    if not raw and any(t.datatype == "FP16" for t in ts):
        raw = True  # FP16 has no typed field
    msg = g.encode_request(req, ts, "m", "2", raw=raw)
    wire = pb.ModelInferRequest.FromString(msg.SerializeToString())
    back = g.decode_request(wire)
    assert (back.id, back.outputs, dict(back.parameters)) == (req.id, req.outputs, dict(req.parameters))
    for a, b in zip(ts, back.inputs, strict=True):
        assert_same(a, b)


@settings(max_examples=100, deadline=None)
@given(st.lists(tensors("out"), min_size=1, max_size=1), st.booleans())
def test_response_round_trip(outs, raw):
    raw = raw or outs[0].datatype == "FP16"
    msg = g.encode_response(outs, "m", "1", "rid", {"k": "v"}, raw=raw)
    back = g.decode_response(pb.ModelInferResponse.FromString(msg.SerializeToString()), "b")
    assert (back.id, dict(back.parameters)) == ("rid", {"k": "v"})
    assert_same(outs[0], back.outputs[0])


def test_binary_data_size_is_dropped_once_decoded():
    resp = pb.ModelInferResponse(model_name="m")
    out = resp.outputs.add(name="y", datatype="FP32", shape=[1])
    out.parameters["binary_data_size"].int64_param = 4
    out.parameters["keep"].string_param = "k"
    resp.raw_output_contents.append(b"\0" * 4)
    assert dict(g.decode_response(resp, "b").outputs[0].parameters) == {"keep": "k"}
