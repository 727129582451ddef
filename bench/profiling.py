"""Sample the gateway with py-spy while it is saturated; summarise the hot functions."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.procs import pinned

_LINE = re.compile(r":\d+\)$")


def py_spy_path(venv: Path) -> str | None:
    p = venv / "bin" / "py-spy"
    return str(p) if p.exists() else shutil.which("py-spy")


def start(py_spy: str, pid: int, seconds: float, out: Path, fmt: str, cpus: str | None) -> subprocess.Popen[bytes]:
    cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
           "--nonblocking", "--subprocesses", "--format", fmt, "--output", str(out)]
    return subprocess.Popen(pinned(cmd, cpus), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarise(collapsed: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive share per function (line numbers folded) from py-spy's raw output."""
    self_c: Counter[str] = Counter()
    total_c: Counter[str] = Counter()
    pkg_c: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        # py-spy prefixes the thread ("process ..."/"thread ..."); keep only code frames.
        frames = [f for f in frames if "(" in f]
        if not frames:
            continue
        samples += n
        self_c[frames[-1]] += n
        pkg_c[_package(frames[-1])] += n
        for f in set(frames):
            total_c[f] += n

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / samples, 1)) for k, v in c.most_common(top)] if samples else []

    top_self = pct(self_c)
    total_of = {f: round(100 * total_c[f] / samples, 1) for f, _ in top_self}
    return {"samples": samples, "top_self": top_self, "total_of_top_self": total_of,
            "top_total": pct(total_c), "by_package": pct(pkg_c)}


def _package(frame: str) -> str:
    """py-spy shortens paths to the import root: "aiohttp/web_protocol.py", "isthmus/codecs/v2.py"."""
    m = re.search(r"\(([^)]*)\)$", frame)
    path = (m.group(1) if m else frame).split("site-packages/")[-1]
    parts = path.split("/")
    if parts[0] == "isthmus" and len(parts) > 2:
        return f"isthmus.{parts[1]}"
    if path == "<string>":
        return "<generated> (dataclass __init__ etc.)"
    return parts[0].removesuffix(".py") if len(parts) > 1 else path
