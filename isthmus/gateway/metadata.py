"""Model metadata (REST ``GET /v2/models/{m}``, gRPC ``ModelMetadata``): complete, or a clear error.

A route's variants (those of the asked version) are tried in order. A variant's inputs and its
outputs are each taken from the first source that has them:

1. the backend's own metadata: the server's (``kserve-v2``, ``kserve-v2-grpc``), TF Serving's
   signature (``tfserving``, ``tfserving-grpc``), the model file (``onnx``);
2. the ``inputs`` / ``outputs`` declared on the backend in the config.

The first variant whose inputs and outputs are both known answers (200). If none is, the answer is
an error naming each variant's gap and how to declare it, never an empty success: **503** when a
backend that has a metadata API did not answer (it may later), else **501** (the backend's protocol
has no metadata — KServe V1, Ray Serve — or its server lists no tensors, and nothing is declared:
only a config change can fix it). ``platform`` is the server's when it gives one, else named after
the backend's kind (:data:`PLATFORMS`), never empty.
"""

from __future__ import annotations

from typing import Any, Mapping

from isthmus.backends import BackendError
from isthmus.config import BackendConfig
from isthmus.gateway.state import GatewayState
from isthmus.router import UnknownVersion

#: The platform reported for a backend kind whose server names none (V2 "<project>_<format>" where one fits).
PLATFORMS: Mapping[str, str] = {
    "onnx": "onnxruntime_onnx",
    "tfserving": "tensorflow_savedmodel",
    "tfserving-grpc": "tensorflow_savedmodel",
    "kserve-v1": "kserve",
    "kserve-v2": "kserve",
    "kserve-v2-grpc": "kserve",
    "ray-serve": "ray",
}

#: Backend kinds whose protocol can describe a model's tensors (their ``metadata()`` may return them).
HAS_METADATA_API = frozenset({"onnx", "tfserving", "tfserving-grpc", "kserve-v2", "kserve-v2-grpc"})


class MetadataUnknown(Exception):
    """No variant of the route can describe its model's tensors. ``status``: 501 or 503 (module docstring)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


async def model_metadata(state: GatewayState, model: str, version: str | None = None) -> dict[str, Any]:
    """The V2 metadata document of ``model`` (name, versions, platform, inputs, outputs)."""
    route = state.routes.route(model)
    if version is not None and version not in route.versions:
        known = ", ".join(route.versions) or "none"
        raise UnknownVersion(f"model '{model}' has no version '{version}' (known: {known})")
    gaps: list[str] = []
    unanswered = False
    for variant in route.variants:
        if version is not None and variant.version != version:
            continue
        config = state.backend_configs[variant.backend]
        try:
            served = await state.backends[variant.backend].metadata(model)
        except BackendError:
            served = None
        if served is None and config.protocol in HAS_METADATA_API:
            unanswered = True
        inputs = tensors_of(served, "inputs") or declared(config, "inputs")
        outputs = tensors_of(served, "outputs") or declared(config, "outputs")
        if inputs and outputs:
            platform = served.get("platform") if served is not None else None
            return {
                "name": model,
                "versions": list(route.versions),
                "platform": platform if isinstance(platform, str) and platform else PLATFORMS[config.protocol],
                "inputs": inputs,
                "outputs": outputs,
            }
        missing = [key for key, known in (("inputs", inputs), ("outputs", outputs)) if not known]
        gaps.append(_gap(variant.backend, config, served, missing))
    raise MetadataUnknown(f"the metadata of model '{model}' is unknown: {'; '.join(gaps)}", 503 if unanswered else 501)


def tensors_of(doc: Mapping[str, Any] | None, key: str) -> list[dict[str, Any]] | None:
    """``doc[key]`` as clean metadata tensors (name, datatype, shape), or None when absent, empty or malformed."""
    items = doc.get(key) if doc is not None else None
    if not isinstance(items, list) or not items:
        return None
    out = []
    for t in items:
        if not isinstance(t, Mapping):
            return None
        name, datatype, shape = t.get("name"), t.get("datatype"), t.get("shape")
        if not (isinstance(name, str) and name and isinstance(datatype, str) and datatype and isinstance(shape, list)):
            return None
        if not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            return None
        out.append({"name": name, "datatype": datatype, "shape": list(shape)})
    return out


def declared(config: BackendConfig, key: str) -> list[dict[str, Any]] | None:
    """The ``inputs`` or ``outputs`` declared on a backend in the config, or None."""
    specs = getattr(config, key, None)
    return [s.model_dump() for s in specs] if specs else None


def _gap(backend: str, config: BackendConfig, served: Mapping[str, Any] | None, missing: list[str]) -> str:
    what = " and ".join(missing)
    if config.protocol not in HAS_METADATA_API:
        why = f"its protocol ({config.protocol}) has no model metadata"
    elif served is None:
        why = "it gave no metadata (unreachable, or it does not know the model)"
    else:
        why = f"it lists no {what}"
    if config.protocol == "onnx":
        return f"backend '{backend}': {why} (the model is not loaded)"
    return (
        f"backend '{backend}': {why}; declare its {what} in the config "
        "(a list of {name, datatype, shape}, -1 for a dynamic dimension)"
    )
