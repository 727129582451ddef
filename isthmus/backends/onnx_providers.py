"""Choosing onnxruntime execution providers for a device, and checking what actually runs.

onnxruntime-gpu silently falls back to CPU when CUDA cannot load, so the
providers a session *reports* (``get_providers()``) are compared with the
ones that were asked for.
"""

from __future__ import annotations

from typing import Sequence

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

_PREFERENCE = {
    "cpu": (CPU,),
    "cuda": (CUDA, CPU),
    "tensorrt": (TENSORRT, CUDA, CPU),
    "auto": (TENSORRT, CUDA, CPU),
}
_REQUIRED = {"cuda": CUDA, "tensorrt": TENSORRT}


class DeviceUnavailable(RuntimeError):
    """The configured device cannot be used by this onnxruntime installation."""


def choose_providers(device: str, available: Sequence[str]) -> list[str]:
    """Providers to request for ``device``, given ``onnxruntime.get_available_providers()``."""
    required = _REQUIRED.get(device)
    if required is not None and required not in available:
        raise DeviceUnavailable(
            f"device '{device}' needs {required}, but this onnxruntime offers only {list(available)} "
            "(install the 'gpu' extra: onnxruntime-gpu, with CUDA libraries present)"
        )
    return [p for p in _PREFERENCE[device] if p in available] or [CPU]


def verify_active(device: str, active: Sequence[str]) -> None:
    """Raise when an explicit GPU device silently fell back to CPU."""
    required = _REQUIRED.get(device)
    if required is not None and required not in active:
        raise DeviceUnavailable(
            f"device '{device}' was requested but onnxruntime is running on {list(active)} "
            f"({required} failed to initialise; check CUDA/cuDNN/TensorRT libraries)"
        )
