"""Config documents for xDS tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from isthmus.config import Config, parse_config


def doc(weights: tuple[int, int] = (90, 10), ports: tuple[int, int] = (9001, 9002), address: str = "127.0.0.1:18080",
        sticky: bool = False, extra_backend: bool = False) -> dict[str, Any]:  # fmt: skip
    backends: list[dict[str, Any]] = [
        {"name": "a", "protocol": "kserve-v2", "endpoints": [f"http://127.0.0.1:{ports[0]}"]},
        {"name": "b", "protocol": "kserve-v2", "endpoints": [f"http://127.0.0.1:{ports[1]}"]},
    ]
    if extra_backend:
        backends.append({"name": "c", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9003"]})
    route: dict[str, Any] = {
        "model": "m",
        "variants": [{"backend": "a", "weight": weights[0]}, {"backend": "b", "weight": weights[1]}],
        "override_header": "x-isthmus-variant",
    }
    if sticky:
        route["sticky_header"] = "x-user-id"
    return {"listener": {"address": address}, "backends": backends, "routes": [route]}


def config(**kw: Any) -> Config:
    return parse_config(yaml.safe_dump(doc(**kw)), "test.yaml", Path("."))


def write(path: Path, d: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(d))
    tmp.replace(path)
