"""Requested outputs' parameters over gRPC: kept from a ModelInferRequest (tritonclient.grpc's
``class_count``), sent on to V2 backends, over gRPC and REST alike."""

from __future__ import annotations

import numpy as np
import orjson
import tritonclient.grpc as tg

from isthmus.codecs import v2, v2_grpc
from isthmus.codecs.v2_grpc import pb


def request_with_classification() -> pb.ModelInferRequest:
    msg = pb.ModelInferRequest(model_name="m")
    t = msg.inputs.add(name="x", datatype="FP32", shape=[1, 3])
    msg.raw_input_contents.append(np.array([0.1, 0.9, 0.5], np.float32).tobytes())
    assert t.name == "x"
    out = tg.InferRequestedOutput("y", class_count=2)  # what tritonclient.grpc builds
    msg.outputs.append(out._get_tensor())
    plain = msg.outputs.add(name="z")
    plain.parameters["binary_data"].bool_param = True  # a REST wire-form choice: not kept
    return msg


def test_output_parameters_are_kept_without_the_wire_form_ones():
    req = v2_grpc.decode_request(request_with_classification())
    assert req.outputs == ("y", "z")
    assert req.output_parameters == {"y": {"classification": 2}}


def test_output_parameters_are_sent_on_over_grpc_and_rest():
    req = v2_grpc.decode_request(request_with_classification())
    msg = v2_grpc.encode_request(req, req.inputs, "remote")
    assert [o.name for o in msg.outputs] == ["y", "z"]
    assert msg.outputs[0].parameters["classification"].int64_param == 2
    assert not msg.outputs[1].parameters
    doc = orjson.loads(v2.encode_request(req, req.inputs))
    assert doc["outputs"] == [{"name": "y", "parameters": {"classification": 2}}, {"name": "z"}]
