"""The model configuration and repository index extensions' documents, in Triton's shapes. Pure.

A gateway has no model repository: a *model* is a route, its *versions* the versions of its
variants. The config is the subset of Triton's ``ModelConfig`` (model_config.proto) that means
something for a route (docs/protocols.md, "Extensions"):

- ``name``; ``platform``: the platform the model metadata reports (from the backend, else "");
  ``backend``: the protocol of the route's variants (``onnx``, ``kserve-v2``, ...), ``+``-joined
  when a canary spans several kinds of servers;
- ``version_policy``: ``specific`` with the variants' versions when they are all numbers (Triton's
  versions are integers), ``latest: 1`` for a route without versions, ``all`` otherwise;
- ``max_batch_size`` 0: the gateway does not batch, so ``dims`` are the full shapes (batch included);
- ``input`` / ``output``: name, ``data_type`` and ``dims`` from the model metadata when the
  backend reports them (-1: any size), else empty lists;
- ``parameters``: one ``isthmus.variant.<backend>`` entry per variant (protocol, weight,
  version), and ``isthmus.fallback`` when the route has one.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Sequence

#: V2 datatype -> Triton ``DataType`` name (``BYTES`` is ``TYPE_STRING`` in model_config.proto).
_DATATYPES = {
    dt: f"TYPE_{dt}"
    for dt in ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BF16")
} | {"BYTES": "TYPE_STRING"}

#: The repository index's states (Triton's names).
READY, UNAVAILABLE = "READY", "UNAVAILABLE"


class VariantInfo(NamedTuple):
    backend: str
    protocol: str
    weight: int
    version: str | None


def triton_datatype(datatype: str) -> str:
    """``FP32`` -> ``TYPE_FP32``; an unknown name -> ``TYPE_INVALID``."""
    return _DATATYPES.get(datatype, "TYPE_INVALID")


def version_policy(versions: Sequence[str]) -> dict[str, Any]:
    if not versions:
        return {"latest": {"num_versions": 1}}
    if all(v.isdigit() for v in versions):
        return {"specific": {"versions": sorted(int(v) for v in versions)}}
    return {"all": {}}


def _tensors(docs: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("name"), str):
            continue
        shape = doc.get("shape")
        dims = [int(d) for d in shape] if isinstance(shape, list) and all(isinstance(d, int) for d in shape) else []
        out.append({"name": doc["name"], "data_type": triton_datatype(str(doc.get("datatype", ""))), "dims": dims})
    return out


def model_config(
    model: str,
    versions: Sequence[str],
    variants: Sequence[VariantInfo],
    metadata: Mapping[str, Any],
    fallback: str | None = None,
) -> dict[str, Any]:
    """The route's config in Triton's JSON shape (REST answers it as is; gRPC parses it into
    ``inference.ModelConfig``). ``metadata``: the V2 model metadata document."""
    parameters = {
        f"isthmus.variant.{v.backend}": {
            "string_value": f"protocol={v.protocol} weight={v.weight} version={v.version or ''}"
        }
        for v in variants
    }
    if fallback is not None:
        parameters["isthmus.fallback"] = {"string_value": fallback}
    platform = metadata.get("platform")
    return {
        "name": model,
        "platform": platform if isinstance(platform, str) else "",
        "backend": "+".join(sorted({v.protocol for v in variants})),
        "version_policy": version_policy(versions),
        "max_batch_size": 0,
        "input": _tensors(metadata.get("inputs") or ()),
        "output": _tensors(metadata.get("outputs") or ()),
        "parameters": parameters,
    }


def index_entry(model: str, version: str, ready: bool, reason: str = "") -> dict[str, str]:
    """One row of ``POST /v2/repository/index``."""
    return {"name": model, "version": version, "state": READY if ready else UNAVAILABLE, "reason": reason}
