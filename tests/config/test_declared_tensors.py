"""Declared ``inputs`` / ``outputs`` on backend configs: parsed, and every mistake named with file:line."""

import textwrap

import pytest

from isthmus.config import ConfigError, load_config

HEAD = """\
backends:
  - name: ray
    protocol: ray-serve
    endpoints: [http://ray:8000]
"""
ROUTES = """\
routes:
  - model: m
    variants: [{backend: ray, weight: 1}]
"""


def load(tmp_path, backend_extra: str, head: str = HEAD):
    p = tmp_path / "t.yaml"
    p.write_text(head + textwrap.indent(textwrap.dedent(backend_extra), "    ") + ROUTES)
    return load_config(p)


def issues(tmp_path, backend_extra: str, head: str = HEAD) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, backend_extra, head)
    return [str(i).removeprefix(str(tmp_path) + "/") for i in err.value.issues]


def test_declared_tensors_parse_with_dynamic_dimensions(tmp_path):
    cfg = load(tmp_path, """\
        inputs: [{name: input-0, datatype: FP32, shape: [-1, 4]}]
        outputs:
          - {name: scores, datatype: FP64, shape: [-1]}
          - {name: labels, datatype: BYTES, shape: []}
        """)
    b = cfg.backends[0]
    assert [(s.name, s.datatype, s.shape) for s in b.inputs] == [("input-0", "FP32", [-1, 4])]
    assert [s.name for s in b.outputs] == ["scores", "labels"]
    assert load(tmp_path, "").backends[0].inputs is None


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("inputs: []\n", "t.yaml:5: backends[0].inputs: List should have at least 1 item"),
        ("inputs: [{name: x, datatype: FP32}]\n", "t.yaml:5: backends[0].inputs[0].shape: missing required field 'shape'"),
        ("inputs: [{name: x, datatype: FP33, shape: [1]}]\n", "t.yaml:5: backends[0].inputs[0].datatype: Input should be"),
        ("inputs: [{name: x, datatype: FP32, shape: [-2]}]\n", "backends[0].inputs[0].shape[0]: Input should be greater than or equal to -1"),
        ("inputs: [{name: x, datatype: FP32, shape: [true]}]\n", "backends[0].inputs[0].shape[0]: Input should be a valid integer"),
        ('inputs: [{name: "a\\0b", datatype: FP32, shape: [1]}]\n', "backends[0].inputs[0].name: tensor names cannot contain control characters"),
        ("inputs: [{name: '', datatype: FP32, shape: [1]}]\n", "backends[0].inputs[0].name: String should have at least 1 character"),
        ("outputs: [{name: y, datatype: FP32, shape: [1], extra: 1}]\n", "backends[0].outputs[0].extra: unknown field 'extra'"),
        ("outputs:\n  - {name: y, datatype: FP32, shape: [1]}\n  - {name: y, datatype: FP32, shape: [1]}\n",
         "t.yaml:7: backends[0].outputs[1].name: duplicate output name 'y' (first at outputs[0])"),
    ],
)
def test_mistakes_are_named_with_file_line_and_field(tmp_path, extra, expected):
    found = issues(tmp_path, extra)
    assert any(expected in i for i in found), found


def test_v1_instances_must_get_the_single_declared_inputs_name_on_tensor_dialects(tmp_path):
    head = "backends:\n  - name: ray\n    protocol: kserve-v2\n    endpoints: [http://k]\n"
    found = issues(tmp_path, "inputs: [{name: x, datatype: FP32, shape: [-1]}]\n", head)
    assert found == ["t.yaml:5: backends[0].inputs: KServe V1 instances are sent as a tensor named 'input-0' "
                     "(tensors.input_name), which is not the declared input 'x': set tensors.input_name: x"]
    cfg = load(tmp_path, "inputs: [{name: x, datatype: FP32, shape: [-1]}]\ntensors: {input_name: x}\n", head)
    assert cfg.backends[0].tensors.input_name == "x"
    # name-less dialects send instances as they are: no such constraint
    assert load(tmp_path, "inputs: [{name: x, datatype: FP32, shape: [-1]}]\n").backends[0].inputs[0].name == "x"


def test_onnx_backends_take_their_tensors_from_the_model_file(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x")
    head = "backends:\n  - name: ray\n    protocol: onnx\n    model_path: m.onnx\n"
    found = issues(tmp_path, "inputs: [{name: x, datatype: FP32, shape: [-1]}]\n", head)
    assert found == ["t.yaml:5: backends[0].inputs: unknown field 'inputs'"]


def test_declared_tensors_survive_the_xds_round_trip(tmp_path):
    from isthmus.xds.inverse import config_from_resources
    from isthmus.xds.resources import resources_from_config

    cfg = load(tmp_path, """\
        inputs: [{name: input-0, datatype: FP32, shape: [-1, 4]}]
        outputs: [{name: labels, datatype: BYTES, shape: [-1]}]
        """)
    back = config_from_resources(resources_from_config(cfg))
    assert back.backends[0] == cfg.backends[0]
    assert back.backends[0].inputs[0].shape == [-1, 4] and type(back.backends[0].inputs[0].shape[0]) is int
