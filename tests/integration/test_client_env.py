"""Isthmus installed in one environment with the ecosystem's clients: tritonclient[all] and kserve.

Those pin protobuf<7, so the clients venv (tests/clients/build.sh, `make clients`) runs at the
lowest protobuf and grpcio pyproject.toml allows, while the project's .venv runs the newest: the two
ends of the supported range. Here, in the clients venv: every isthmus module and the clients' own
generated code imports; `isthmus serve` on the demo config (plus a TF Serving gRPC route) answers
tritonclient's V2 REST and gRPC calls and kserve's V2 gRPC call; and the vendored TF Serving stubs
make a Predict call to the TF Serving gRPC stand-in (TF Serving itself cannot run here). kserve runs
in processes of its own: it cannot be imported beside tritonclient.grpc (kserve/kserve#3099).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from isthmus.demo import demo_config
from tests.conftest import free_port
from tests.integration.test_cli_processes import wait_ready

pytestmark = pytest.mark.peers

ROOT = Path(__file__).resolve().parents[2]
CALLS = ROOT / "tests" / "clients" / "calls.py"


@pytest.fixture(scope="module")
def python() -> Path:
    """The clients venv's python (a missing venv is a failure, not a skip: `make test` builds it)."""
    venv = Path(os.environ.get("ISTHMUS_CLIENTS_VENV", ROOT / ".venv-clients"))
    py = venv / "bin" / "python"
    assert py.exists(), f"{py} not found: run tests/clients/build.sh {venv} (make clients)"
    return py


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")} | {"PYTHONPATH": str(ROOT)}


def _run(python: Path, *args: str) -> dict:
    done = subprocess.run([str(python), str(CALLS), *args], capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _floor(name: str) -> Version:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [Requirement(d).specifier for d in deps if Requirement(d).name == name]
    (low,) = [Version(s.version) for s in spec if s.operator == ">="]
    return low


def test_everything_imports_beside_the_clients_at_the_lowest_protobuf(python, capsys):
    got = _run(python, "imports", "isthmus")
    v = got["versions"]
    with capsys.disabled():
        print(f"\nclients venv: {', '.join(f'{k} {v[k]}' for k in v)}", file=sys.stderr)
    assert v["tritonclient"] and v["kserve"], v
    # the clients' pins (protobuf<7) hold, and the build put the range's floor in
    assert Version(v["protobuf"]) == _floor("protobuf") and Version(v["protobuf"]).major == 6, v
    assert Version(v["grpcio"]) == _floor("grpcio"), v
    assert got["failed"] == {}
    for module in (  # the modules that load generated protobuf code, each from another generator
        "isthmus.backends.tfserving_grpc",  # isthmus/protos/tfserving (grpcio-tools 1.81.1)
        "isthmus.codecs.v2_grpc",  # tritonclient.grpc.service_pb2
        "isthmus.xds.resources",  # xds-protos
        "isthmus.telemetry.otlp",  # opentelemetry-proto and the OTLP exporters
    ):
        assert module in got["imported"]
    kserve = _run(python, "imports", "kserve")
    assert kserve["failed"] == {} and "kserve.protocol.grpc.grpc_predict_v2_pb2" in kserve["imported"]


def test_serve_on_the_demo_config_answers_the_clients(python, tmp_path, spawn):
    tfs_port, port, grpc_port = free_port(), free_port(), free_port()
    doc = demo_config(tmp_path, "127.0.0.1", port, grpc_port).model_dump(mode="json", exclude_defaults=True)
    # plus a route to the TF Serving gRPC stand-in: the gateway calls Predict with the vendored stubs
    doc["backends"].append({"name": "tfs-grpc", "protocol": "tfserving-grpc", "endpoints": [f"127.0.0.1:{tfs_port}"],
                            "model": "tfs"})  # fmt: skip
    doc["routes"].append({"model": "tfs", "variants": [{"backend": "tfs-grpc", "weight": 1}]})
    config = tmp_path / "traffic.yaml"
    config.write_text(yaml.safe_dump(doc))
    standin = [str(python), "-m", "tests.servers.tfserving_grpc", "--model", "tfs", "--offset", "0.5",
               "--port", str(tfs_port)]  # fmt: skip
    serve = [str(python.parent / "isthmus"), "serve", "--config", str(config),
             "--admin-address", f"127.0.0.1:{free_port()}"]  # fmt: skip
    tfs, gateway = spawn(standin, env=_env(), cwd=ROOT), spawn(serve, env=_env(), cwd=ROOT)
    tfs.wait_for_line("listening on", timeout=60)  # the stand-in prints it once bound
    wait_ready(gateway, f"http://127.0.0.1:{port}/v2/health/ready", timeout=60)
    got = _run(python, "calls", "--rest", f"http://127.0.0.1:{port}", "--grpc", f"127.0.0.1:{grpc_port}",
               "--tfs", f"127.0.0.1:{tfs_port}")  # fmt: skip
    got |= _run(python, "kserve", "--grpc", f"127.0.0.1:{grpc_port}")
    assert gateway.poll() is None
    demo_v2 = [102.0, 104.0, 106.0, 108.0]  # x*2+100 for [1, 2, 3, 4]: the calls pin variant demo-v2
    tfs_x2_plus_half = [2.5, 4.5, 6.5, 8.5]
    assert got == {
        "triton_http_v2": demo_v2,
        "triton_grpc_v2": demo_v2,
        "kserve_grpc_v2": demo_v2,
        "triton_grpc_v2_to_tfserving_grpc": tfs_x2_plus_half,
        "tfserving_grpc_predict": tfs_x2_plus_half,
    }
