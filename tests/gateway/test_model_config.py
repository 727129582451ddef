"""The pure builders of the model configuration document (Triton's ModelConfig shape)."""

from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2

from isthmus.gateway.model_config import VariantInfo, model_config, triton_datatype, version_policy


def test_datatypes_and_version_policies():
    assert [triton_datatype(d) for d in ("FP32", "BYTES", "BF16", "NOPE")] == [
        "TYPE_FP32", "TYPE_STRING", "TYPE_BF16", "TYPE_INVALID"]
    assert version_policy(()) == {"latest": {"num_versions": 1}}
    assert version_policy(("10", "2")) == {"specific": {"versions": [2, 10]}}
    assert version_policy(("1", "canary")) == {"all": {}}


def test_a_mixed_canary_with_unknown_metadata_is_still_a_valid_model_config():
    variants = [VariantInfo("tfs", "tfserving", 10, None), VariantInfo("ks", "kserve-v2", 90, None)]
    metadata = {"platform": None, "inputs": [{"name": "x", "datatype": "INT64", "shape": "?"}, "junk"]}
    doc = model_config("m", (), variants, metadata)
    assert doc["backend"] == "kserve-v2+tfserving" and doc["platform"] == ""
    assert doc["input"] == [{"name": "x", "data_type": "TYPE_INT64", "dims": []}] and doc["output"] == []
    parsed = json_format.ParseDict(doc, model_config_pb2.ModelConfig())  # every field is model_config.proto's
    assert parsed.version_policy.latest.num_versions == 1
    assert parsed.parameters["isthmus.variant.tfs"].string_value == "protocol=tfserving weight=10 version="
