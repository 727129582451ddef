"""The arithmetic every peer serves: ``output = input * 2 + offset`` in FP32.

Stdlib only, so the peers (each in its own venv) and the gateway's tests
(to compute expected values) can share it. FP32 is emulated exactly: the sum
of two FP32 values computed in FP64 and rounded once to FP32 is the correctly
rounded FP32 sum, so these results match numpy's float32 arithmetic bit for bit.
"""

from __future__ import annotations

import math
import struct
from typing import Any

__all__ = ["InvalidInstances", "fp32", "affine", "affine_instances", "parse_model_spec"]

_FP32 = struct.Struct("<f")


class InvalidInstances(ValueError):
    """The V1 ``instances`` payload is not a (nested) list of numbers."""


def fp32(value: float) -> float:
    """Round a Python float to the nearest FP32 value (returned as a float); overflow gives ±inf."""
    try:
        return _FP32.unpack(_FP32.pack(value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


def affine(value: float, offset: float) -> float:
    """``value * 2 + offset`` evaluated in FP32."""
    return fp32(fp32(value) * 2.0 + fp32(offset))


def affine_instances(instances: Any, offset: float) -> list:
    """Apply :func:`affine` to every number of a V1 ``instances`` list, keeping its nesting."""
    if not isinstance(instances, list):
        raise InvalidInstances('"instances" must be a list')
    return [_affine_item(item, offset) for item in instances]


def _affine_item(item: Any, offset: float) -> Any:
    if isinstance(item, bool) or not isinstance(item, (int, float, list)):
        raise InvalidInstances(f"instances must hold numbers or lists, got {type(item).__name__}")
    if isinstance(item, list):
        return [_affine_item(sub, offset) for sub in item]
    return affine(float(item), offset)


def parse_model_spec(spec: str, default_offset: float) -> tuple[str, float]:
    """Parse ``NAME`` or ``NAME:OFFSET`` into ``(name, offset)``."""
    name, sep, offset = spec.partition(":")
    if not name:
        raise ValueError(f"empty model name in {spec!r}")
    return name, (float(offset) if sep else default_offset)
