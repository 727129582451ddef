"""Human-friendly units in the config file: durations (``250ms``, ``2s``) and sizes (``16MiB``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def parse_duration(value: Any) -> float:
    """Seconds from ``1.5`` / ``"250ms"`` / ``"2s"`` / ``"1m"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 2s or 1m")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"invalid duration {value!r}: expected a number with a unit ms, s, m or h (e.g. 500ms)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def parse_size(value: Any) -> int:
    """Bytes from ``1048576`` / ``"16MiB"`` / ``"1MB"``."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 16MiB")
    if isinstance(value, int):
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"invalid size {value!r}: expected a number with a unit B, KB, MB, GB, KiB, MiB or GiB")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0),
    WithJsonSchema({"type": ["string", "number"], "description": "seconds, or a number with unit ms/s/m/h"}),
]
#: A duration that may be 0 (a period that can be skipped).
DurationOrZero = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(ge=0),
    WithJsonSchema({"type": ["string", "number"], "description": "seconds, or a number with unit ms/s/m/h; 0 for none"}),
]
ByteSize = Annotated[
    int,
    BeforeValidator(parse_size),
    Field(gt=0),
    WithJsonSchema({"type": ["string", "integer"], "description": "bytes, or a number with unit KiB/MiB/GiB/KB/MB/GB"}),
]
