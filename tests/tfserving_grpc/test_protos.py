"""The committed TF Serving stubs: up to date with the .proto files, and apart from a real TensorFlow."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PROTOS = REPO / "isthmus" / "protos"
GENERATED = sorted(PROTOS.rglob("*_pb2*.py"))


def test_generated_code_matches_the_protos(tmp_path):
    """regenerate.sh (its pinned grpcio-tools, in a venv of its own) writes exactly the committed code."""
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    # the tools venv is kept beside the project's (.gitignored) so later runs reuse it; uv from this venv
    env = os.environ | {
        "ISTHMUS_PROTOC_VENV": os.environ.get("ISTHMUS_PROTOC_VENV", str(REPO / ".venv-protoc")),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    run = subprocess.run([str(copy / "regenerate.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    generated = sorted(p.relative_to(copy) for p in copy.rglob("*_pb2*.py"))
    assert generated == [p.relative_to(PROTOS) for p in GENERATED]
    stale = [str(p) for p in generated if (copy / p).read_text() != (PROTOS / p).read_text()]
    assert not stale, f"run isthmus/protos/regenerate.sh: {stale}"


def _specifier(name: str):
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [Requirement(d).specifier for d in deps if Requirement(d).name == name]
    return spec


def _floor(name: str) -> Version:
    (low,) = [Version(s.version) for s in _specifier(name) if s.operator == ">="]
    return low


def test_the_generated_code_needs_no_newer_protobuf_or_grpcio_than_pyproject_allows():
    """Generated code refuses a protobuf runtime older than its gencode, and the gRPC stubs a grpcio older
    than their grpcio-tools: so neither may be newer than pyproject.toml's floors (which tritonclient's
    and kserve's protobuf<7 rely on). Raising regenerate.sh's pin means raising the floors too."""
    gencode = {Version(m) for p in GENERATED for m in re.findall(r"^# Protobuf Python Version: (\S+)$", p.read_text(), re.M)}
    stubs = {Version(m) for p in GENERATED for m in re.findall(r"^GRPC_GENERATED_VERSION = '(\S+)'$", p.read_text(), re.M)}
    assert len(gencode) == 1 and len(stubs) == 1, (gencode, stubs)  # one grpcio-tools wrote them all
    assert max(gencode) <= _floor("protobuf"), f"gencode {gencode} needs a protobuf newer than pyproject's floor"
    assert max(stubs) <= _floor("grpcio"), f"stubs {stubs} need a grpcio newer than pyproject's floor"
    # protobuf supports gencode of major V on runtimes V and V+1 only: pyproject's ceiling says so
    major = max(gencode).major
    assert Version(f"{major + 1}.99") in _specifier("protobuf") and Version(f"{major + 2}") not in _specifier("protobuf")


def test_stubs_coexist_with_tensorflows_own(tmp_path):
    """Stubs generated the standard way (as tensorflow ships them, in the default descriptor pool)
    load beside ours, and each side parses the other's bytes."""
    from grpc_tools import protoc

    src = PROTOS / "tfserving"
    protos = [str(p.relative_to(src)) for p in src.rglob("*.proto")]
    assert protoc.main(["protoc", f"-I{src}", f"-I{protoc._get_resource_file_name('grpc_tools', '_proto')}",
                        f"--python_out={tmp_path}", *protos]) == 0  # fmt: skip
    code = f"""
import sys
sys.path.insert(0, {str(tmp_path)!r})
from tensorflow.core.framework import tensor_pb2 as theirs   # registers tensorflow.TensorProto by default
from isthmus.protos.tfserving.tensorflow.core.framework import tensor_pb2 as ours
t = ours.TensorProto(dtype=1, float_val=[1.5]); t.tensor_shape.dim.add(size=1)
assert theirs.TensorProto.FromString(t.SerializeToString()).float_val == [1.5]
assert ours.TensorProto.FromString(theirs.TensorProto(dtype=9, int64_val=[4]).SerializeToString()).int64_val == [4]
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROTOS.parents[1])
