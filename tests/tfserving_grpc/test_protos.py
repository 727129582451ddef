"""The committed TF Serving stubs: up to date with the .proto files, and apart from a real TensorFlow."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROTOS = Path(__file__).resolve().parents[2] / "isthmus" / "protos"


def test_generated_code_matches_the_protos(tmp_path):
    pytest.importorskip("grpc_tools")
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([str(copy / "regenerate.sh"), sys.executable], check=True, capture_output=True)
    generated = sorted(p.relative_to(copy) for p in copy.rglob("*_pb2*.py"))
    assert generated == sorted(p.relative_to(PROTOS) for p in PROTOS.rglob("*_pb2*.py"))
    stale = [str(p) for p in generated if (copy / p).read_text() != (PROTOS / p).read_text()]
    assert not stale, f"run isthmus/protos/regenerate.sh: {stale}"


def test_stubs_coexist_with_tensorflows_own(tmp_path):
    """Stubs generated the standard way (as tensorflow ships them, in the default descriptor pool)
    load beside ours, and each side parses the other's bytes."""
    pytest.importorskip("grpc_tools")
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
