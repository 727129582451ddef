"""TF Serving metadata and status: SignatureDefs <-> V2 metadata, TF Serving's JSON and protos."""

import pytest

from isthmus.codecs import CodecError
from isthmus.codecs import tfserving_meta as meta
from tests.servers import tfserving_model


def test_a_signature_as_v2_metadata():
    sigs = meta.signatures_from_json({"metadata": {"signature_def": tfserving_model.signature_defs_json()}}, "x")
    assert sorted(sigs.signature_def) == sorted(tfserving_model.SIGNATURES)
    assert meta.v2_metadata(sigs, None)["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, -1]}]
    regress = meta.v2_metadata(sigs, "tensorflow/serving/regress")
    assert regress["inputs"] == [{"name": "inputs", "datatype": "BYTES", "shape": [-1]}]
    with pytest.raises(CodecError, match="no signature 'nope'"):
        meta.v2_metadata(sigs, "nope")
    with pytest.raises(CodecError, match="no metadata.signature_def"):
        meta.signatures_from_json({"model_spec": {}}, "x")


def test_v2_metadata_as_a_serving_default_signature_printed_as_tf_serving_does():
    v2 = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}],
          "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]}  # fmt: skip
    doc = meta.metadata_json("demo", "2", meta.signatures_of_v2(v2))
    assert doc["model_spec"] == {"name": "demo", "signature_name": "", "version": "2"}
    sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["input-0"] == {
        "name": "input-0", "dtype": "DT_FLOAT",
        "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}], "unknown_rank": False},
    }  # fmt: skip
    assert sig["outputs"]["output-0"]["dtype"] == "DT_INT64"
    packed = meta.metadata_response("demo", "v-a", meta.signatures_of_v2(v2))
    assert packed.model_spec.version_label == "v-a"
    assert meta.signatures_from_response(packed) == meta.signatures_of_v2(v2)


def test_status_in_tf_servings_shape():
    doc = meta.status_json(meta.status_response([("1", True), ("2", False), (None, True)]))
    assert doc == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        {"version": "2", "state": "UNKNOWN",
         "status": {"error_code": "UNAVAILABLE", "error_message": "no backend of this version is ready"}},
        {"version": "0", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
    ]}  # fmt: skip
