import json
import textwrap
from pathlib import Path

import pytest

from isthmus.cli import main
from isthmus.config import ConfigError, load_config
from isthmus.config.units import parse_duration, parse_size

GOOD = """\
listener:
  address: 0.0.0.0:8443
  max_body_size: 4MiB
backends:
  - name: fraud-v1
    protocol: kserve-v2
    endpoints: [http://kserve-a:8080, http://kserve-b:8080]
    model: fraud-remote
    version: "1"
    timeout: 250ms
  - name: fraud-v2
    protocol: tfserving
    endpoints: [http://tfs:8501]
    format: columnar
  - name: fraud-ray
    protocol: ray-serve
    endpoints: [http://ray:8000]
  - name: fraud-local
    protocol: onnx
    model_path: model.onnx
    device: cpu
routes:
  - model: fraud
    variants:
      - {backend: fraud-v1, weight: 90}
      - {backend: fraud-v2, weight: 10, version: "2"}
      - {backend: fraud-ray, weight: 0}
    sticky_header: x-user-id
    override_header: x-isthmus-variant
    fallback: fraud-local
"""


def write(tmp_path: Path, text: str, name: str = "traffic.yaml") -> Path:
    (tmp_path / "model.onnx").write_bytes(b"x")
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def issues(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return [str(i) for i in err.value.issues]


def test_good_config_parses_into_frozen_objects(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.listener.port == 8443 and cfg.listener.max_body_size == 4 * 2**20
    b = cfg.backend("fraud-v1")
    assert b.timeout == 0.25 and b.model == "fraud-remote" and len(b.endpoints) == 2
    assert cfg.backend("fraud-local").model_path == str(tmp_path / "model.onnx")
    assert cfg.routes[0].variants[1].version == "2"
    with pytest.raises(Exception):
        b.timeout = 3  # frozen


def test_every_error_is_reported_with_file_line_and_field(tmp_path):
    bad = GOOD.replace("timeout: 250ms", "timeout: soon").replace(
        "{backend: fraud-v2, weight: 10", "{backend: fraud-v3, weight: 10").replace(
        "fallback: fraud-local", "fallback: nowhere").replace("http://tfs:8501", "tfs:8501").replace(
        "model_path: model.onnx", "model_path: gone.onnx")
    bad += "  - model: fraud\n    variants:\n      - {backend: fraud-v1, weight: 0}\n"
    out = issues(write(tmp_path, bad))
    f = str(tmp_path / "traffic.yaml")
    assert f"{f}:10: backends[0].timeout: invalid duration 'soon'" in out[0]
    expected = [
        f"{f}:13: backends[1].endpoints[0]: bad URL 'tfs:8501'",
        f"{f}:20: backends[3].model_path: model file not found",
        f"{f}:26: routes[0].variants[1].backend: unknown backend 'fraud-v3'",
        f"{f}:30: routes[0].fallback: unknown backend 'nowhere'",
        f"{f}:31: routes[1].model: duplicate route for model 'fraud'",
        f"{f}:32: routes[1].variants: total weight is 0",
    ]
    for e in expected:
        assert any(line.startswith(e) for line in out), (e, out)
    assert len(out) == 7


@pytest.mark.parametrize(
    "text, message",
    [
        ("backends: [{name: a, protocol: grpc, endpoints: ['http://x']}]", "1: backends[0].protocol: unknown protocol 'grpc'"),
        ("backends: [{name: a, protocol: kserve-v2, endpoints: ['http://x'], wieght: 1}]", "unknown field 'wieght'"),
        ("backends: [{name: a, protocol: kserve-v2}]", "backends[0].endpoints: missing required field 'endpoints'"),
        ("backends:\n  - {name: a, protocol: kserve-v2, endpoints: ['http://x']}\n  - {name: a, protocol: kserve-v2, endpoints: ['http://y']}",
         "3: backends[1].name: duplicate backend name 'a'"),
        ("routes: [{model: m, variants: [{backend: a, weight: -1}]}]", "greater than or equal to 0"),
        ("listener: {tls: {cert: c.pem, key: k.pem}}", "listener.tls.cert: file not found"),
        ("listener: {address: nowhere}", "listener.address"),
        ("listener:\n  address: 1.2.3.4:80\n  address: 1.2.3.4:81", "3: listener.address: duplicate key 'address'"),
        ("listener: [", "invalid YAML"),
        ("- 1", "top level must be a mapping"),
    ],
)
def test_single_errors(tmp_path, text, message):
    out = issues(write(tmp_path, text))
    assert any(message in line for line in out), out


def test_units():
    assert parse_duration("1.5s") == 1.5 and parse_duration("20ms") == 0.02 and parse_duration(2) == 2.0
    assert parse_size("16MiB") == 16 * 2**20 and parse_size("1KB") == 1000 and parse_size(7) == 7
    with pytest.raises(ValueError):
        parse_duration("fast")


def test_validate_cli_exit_codes(tmp_path, capsys):
    good = write(tmp_path, GOOD, "good.yaml")
    assert main(["validate", str(good)]) == 0
    assert "ok (4 backends, 1 routes)" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("fraud-v2, weight", "nope, weight"), "bad.yaml")
    assert main(["validate", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:26: routes[0].variants[1].backend: unknown backend 'nope'" in err


def test_serve_refuses_an_invalid_file(tmp_path, capsys):
    bad = write(tmp_path, "routes: [{model: m, variants: [{backend: x, weight: 1}]}]")
    assert main(["serve", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "unknown backend 'x'" in err and "refusing to start" in err


def test_schema_is_generated_from_the_model(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) == {"listener", "cache", "telemetry", "backends", "routes"}
    assert "OnnxBackendConfig" in schema["$defs"]
