"""The layers' import contracts (pyproject.toml, [tool.importlinter]) hold, and can fail.

``lint-imports`` reads the contracts from pyproject.toml and the import graph of the package it
finds on the path. The second test copies the package and the contracts into a temporary tree,
adds one import a contract forbids (telemetry importing the gateway), and checks that
``lint-imports`` run there fails and names the broken contract: a contract that cannot fail
would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-logo", "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_contracts_hold():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout
    assert "0 broken" in done.stdout


def test_a_forbidden_import_breaks_its_contract(tmp_path):
    shutil.copytree(ROOT / "isthmus", tmp_path / "isthmus", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint(tmp_path).returncode == 0  # the copy is as clean as the tree
    (tmp_path / "isthmus" / "telemetry" / "reaching_up.py").write_text("from isthmus.gateway import dataplane\n")
    done = lint(tmp_path)
    assert done.returncode != 0
    assert "telemetry is a leaf" in done.stdout and "BROKEN" in done.stdout
    assert "isthmus.telemetry.reaching_up -> isthmus.gateway.dataplane" in done.stdout
