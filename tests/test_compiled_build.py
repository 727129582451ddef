"""The production build (ISTHMUS_COMPILE=1: the hot path compiled with Cython) passes the same tests.

The hot-path modules are compiled in a copy of the source tree (never in the repository, where a
compiled module would hide later edits to its .py), then the unit tests of every layer they belong
to run against that copy, with a check that the modules really are the compiled ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from isthmus import _hot_path

REPO = Path(__file__).resolve().parent.parent
LAYERS = [
    "tests/gateway", "tests/codecs", "tests/http1", "tests/router", "tests/cache", "tests/backends", "tests/telemetry",
    "tests/grpc", "tests/tfserving_grpc", "tests/upstream",
]  # fmt: skip


@pytest.fixture(scope="module")
def compiled_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compiled")
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.c")
    shutil.copytree(REPO / "isthmus", root / "isthmus", ignore=ignore)
    shutil.copytree(REPO / "tests", root / "tests", ignore=ignore)
    for f in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / f, root / f)
    env = {**os.environ, "ISTHMUS_COMPILE": "1"}
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=root, env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return root


def test_every_hot_path_module_is_compiled(compiled_tree: Path) -> None:
    check = (
        "import importlib, sys; from isthmus import _hot_path\n"
        "for m in _hot_path.MODULES: importlib.import_module(m)\n"
        "print('\\n'.join(sorted(set(_hot_path.MODULES) - set(_hot_path.compiled()))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], cwd=compiled_tree, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(compiled_tree)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "", f"not compiled: {out.stdout}"
    assert len(list((compiled_tree / "isthmus").rglob("*.so"))) == len(_hot_path.MODULES)


def test_the_layers_unit_tests_pass_against_the_compiled_modules(compiled_tree: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(compiled_tree), "ISTHMUS_EXPECT_COMPILED": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *LAYERS, "-m", "not peers", "-x", "-p", "no:cacheprovider"],  # not -q: the header
        cwd=compiled_tree, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "hot path compiled" in run.stdout
