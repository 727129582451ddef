"""Tensor names: control characters refused at decode time (REST and gRPC), unknown inputs named."""

import orjson
import pytest
from tritonclient.grpc import service_pb2 as pb

from isthmus.codecs import CodecError, v2, v2_grpc
from isthmus.codecs.names import check_known, check_name

BAD = ["a\x00b", "\x00", "x\n", "tab\there", "del\x7f", "c1\x85", "\x1b[31m"]
GOOD = ["input-0", "../../etc/passwd", "with space", "ünïcode", "a\u00a0b", "emoji\u200d"]


@pytest.mark.parametrize("name", BAD)
def test_control_characters_are_refused_with_their_code_point(name):
    with pytest.raises(CodecError) as err:
        check_name(name, "inputs", 3)
    message = str(err.value)
    bad = next(c for c in name if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)
    assert message.startswith("inputs[3]: 'name' ") and f"U+{ord(bad):04X}" in message
    assert "\x00" not in message and "\n" not in message  # the name is shown escaped


@pytest.mark.parametrize("name", GOOD)
def test_other_names_are_well_formed(name):
    assert check_name(name, "inputs", 0) == name


@pytest.mark.parametrize("name", ["", None, 3])
def test_empty_or_non_string_names_are_refused(name):
    with pytest.raises(CodecError, match=r"inputs\[0\]: 'name' must be a non-empty string"):
        check_name(name, "inputs", 0)


def test_unknown_input_names_the_models_inputs():
    check_known(["b", "a"], ("a", "b"), "m")
    with pytest.raises(CodecError) as err:
        check_known(["a", "../x"], ("a", "b"), "m")
    assert str(err.value) == "unknown input '../x' (model 'm' has inputs: a, b)"


def rest_body(name="x", outputs=None):
    doc = {"inputs": [{"name": name, "datatype": "FP32", "shape": [1], "data": [1]}]}
    if outputs is not None:
        doc["outputs"] = [{"name": n} for n in outputs]
    return orjson.dumps(doc)


@pytest.mark.parametrize("name", BAD)
def test_rest_requests_with_control_characters_in_a_name_are_refused(name):
    with pytest.raises(CodecError, match=r"inputs\[0\]: 'name' .* control character"):
        v2.decode_request(rest_body(name))
    with pytest.raises(CodecError, match=r"outputs\[1\]: 'name' .* control character"):
        v2.decode_request(rest_body(outputs=["y", name]))
    assert v2.decode_request(rest_body(outputs=["y"])).outputs == ("y",)


def test_rest_requested_output_names_must_not_be_empty():
    with pytest.raises(CodecError, match=r"outputs\[0\]: 'name' must be a non-empty string"):
        v2.decode_request(rest_body(outputs=[""]))


def grpc_request(name="x", outputs=()):
    msg = pb.ModelInferRequest(model_name="m")
    msg.inputs.add(name=name, datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
    for n in outputs:
        msg.outputs.add(name=n)
    return msg


@pytest.mark.parametrize("name", BAD)
def test_grpc_requests_with_control_characters_in_a_name_are_refused(name):
    with pytest.raises(CodecError, match=r"inputs\[0\]: 'name' .* control character"):
        v2_grpc.decode_request(grpc_request(name))
    with pytest.raises(CodecError, match=r"outputs\[0\]: 'name' .* control character"):
        v2_grpc.decode_request(grpc_request(outputs=[name]))
    assert v2_grpc.decode_request(grpc_request("../../etc/passwd")).inputs[0].name == "../../etc/passwd"
