"""The xDS part of the report: runs ``python -m isthmus.xds.bench`` (it starts the control plane as
its own process; simulated clients in its own process) and reads its JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable

TARGET_CLIENTS = 1000
TARGET_S = 1.0


def run(python: str, clients: list[int], rounds: int, out_file: Path, cwd: Path, log: Callable[[str], None],
        timeout: float = 600) -> dict[str, Any]:
    cmd = [python, "-m", "isthmus.xds.bench", "--clients", *map(str, clients), "--rounds", str(rounds),
           "--json", str(out_file)]
    log(f"  {' '.join(cmd[1:])}")
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "command": " ".join(cmd[1:])}
    for line in p.stdout.splitlines():
        log(f"  {line}")
    if p.returncode or not out_file.exists():
        return {"error": f"exit {p.returncode}: {(p.stderr or p.stdout).strip()[-400:]}", "command": " ".join(cmd[1:])}
    data = json.loads(out_file.read_text())
    data["command"] = "python " + " ".join(cmd[1:-2])
    data["goal"] = goal(data["results"])
    return data


def goal(results: list[dict[str, Any]]) -> dict[str, Any]:
    """1,000 clients all ACKed within 1 s: judged on the slowest round (max), the median shown too."""
    r = next((r for r in results if r["clients"] == TARGET_CLIENTS), None)
    if r is None:
        return {"target": f"{TARGET_CLIENTS:,} clients all ACKed within {TARGET_S:g} s", "measured": None, "met": None}
    w = r["write_to_all_acked_s"]
    return {"target": f"{TARGET_CLIENTS:,} clients all ACKed within {TARGET_S:g} s (every round)",
            "measured": {"median_s": w["median"], "max_s": w["max"]}, "met": w["max"] <= TARGET_S}
