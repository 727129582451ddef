"""A backend with an unknown or missing protocol: that error, and all of its other errors, in one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.cli import main
from isthmus.config import ConfigError, parse_config
from isthmus.config.any_protocol import BACKEND_MODELS, PROTOCOLS, AnyProtocolBackend

EXPECTED = "expected 'kserve-v1', 'kserve-v2', 'kserve-v2-grpc', 'tfserving', 'tfserving-grpc', 'ray-serve', 'http-json', 'onnx'"


def errors(text: str, base_dir: Path = Path(".")) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "t.yaml", base_dir)
    return [str(i) for i in err.value.issues]


def test_an_unknown_protocol_hides_none_of_the_backends_other_errors():
    text = """\
backends:
  - name: a
    protocol: grpc
    endpoints: ['127.0.0.1:8081']
    timeout: -5s
    wieght: 1
    max_connections: 0
  - name: b
    protocol: kserve-v2
    endpoints: ['http://x:1']
    timeout: -5s
"""
    assert errors(text) == [
        f"t.yaml:3: backends[0].protocol: unknown protocol 'grpc'; {EXPECTED}",
        "t.yaml:5: backends[0].timeout: invalid duration '-5s': expected a number with a unit ms, s, m or h (e.g. 500ms)",
        "t.yaml:6: backends[0].wieght: unknown field 'wieght'",
        "t.yaml:7: backends[0].max_connections: Input should be greater than 0",
        # the known protocol's errors as before
        "t.yaml:11: backends[1].timeout: invalid duration '-5s': expected a number with a unit ms, s, m or h (e.g. 500ms)",
    ]


def test_a_missing_protocol_hides_none_either_and_fields_of_any_protocol_are_known():
    text = """\
backends:
  - name: bad name
    model_path: ''
    signature_name: serving_default
    route_prefix: /p
    inputs: [{name: x, datatype: FP32, shape: [1]}, {name: x, datatype: FP32, shape: [1]}]
    keepalive_time: never
"""
    assert errors(text) == [
        "t.yaml:2: backends[0]: missing field 'protocol'",
        "t.yaml:2: backends[0].name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]*$'",
        "t.yaml:3: backends[0].model_path: String should have at least 1 character",
        "t.yaml:6: backends[0].inputs[1].name: duplicate input name 'x' (first at inputs[0])",
        "t.yaml:7: backends[0].keepalive_time: invalid duration 'never': expected a number with a unit ms, s, m or h (e.g. 500ms)",
    ]


def test_an_unknown_protocol_gets_no_protocol_specific_checks():
    """A gRPC target is no bad URL, nor a mapping misplaced, while the protocol itself is unknown."""
    text = "backends:\n  - {name: a, protocol: kserve-v2-grcp, endpoints: ['localhost:8081'], request: {inputs: {x: ''}}}\n"
    assert errors(text) == [f"t.yaml:2: backends[0].protocol: unknown protocol 'kserve-v2-grcp'; {EXPECTED}"]


def test_the_any_protocol_model_has_every_protocols_fields_and_requires_only_a_name():
    assert PROTOCOLS == {"kserve-v1", "kserve-v2", "kserve-v2-grpc", "tfserving", "tfserving-grpc",
                         "ray-serve", "http-json", "onnx"}  # fmt: skip
    assert set(AnyProtocolBackend.model_fields) == {f for m in BACKEND_MODELS for f in m.model_fields}
    assert [n for n, f in AnyProtocolBackend.model_fields.items() if f.is_required()] == ["name"]
    assert AnyProtocolBackend.model_validate({"name": "a", "protocol": "nope"}).timeout is None


def test_validate_prints_them_all_and_serve_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.yaml"
    bad.write_text("backends:\n  - name: a\n    protocol: grpc\n    timeout: -5s\n    wieght: 1\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    for line in (f"{bad}:3: backends[0].protocol: unknown protocol 'grpc'", f"{bad}:4: backends[0].timeout: ",
                 f"{bad}:5: backends[0].wieght: unknown field 'wieght'"):  # fmt: skip
        assert line in err, err
    assert main(["serve", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "unknown field 'wieght'" in err and "refusing to start" in err
