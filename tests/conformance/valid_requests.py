"""Inference requests a client builds from a model's metadata (``GET /v2/models/{name}``), as Hypothesis
strategies: the right input names, datatypes and shapes (each ``-1`` drawn), data flat or nested,
optionally an ``id``, ``parameters`` and requested ``outputs``."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

INT_RANGES = {f"{s}INT{b}": (0 if s else -(2 ** (b - 1)), 2**b - 1 if s else 2 ** (b - 1) - 1)
              for s in ("", "U") for b in (8, 16, 32, 64)}
FLOAT_WIDTH = {"FP16": 16, "FP32": 32, "FP64": 64}
NUMPY = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BOOL": np.bool_} | {
    k: getattr(np, k.lower()) for k in INT_RANGES}


def elements(datatype: str) -> st.SearchStrategy[Any]:
    if datatype in FLOAT_WIDTH:
        # bounded so the toy models' x*2+offset stays finite in FP32 (JSON has no inf)
        kind = NUMPY[datatype]
        bound = float(kind(min(1e30, float(np.finfo(kind).max) / 4)))
        return st.floats(-bound, bound, width=FLOAT_WIDTH[datatype], allow_nan=False, allow_subnormal=False)
    if datatype in INT_RANGES:
        return st.integers(*INT_RANGES[datatype])
    if datatype == "BOOL":
        return st.booleans()
    if datatype == "BYTES":
        return st.text(max_size=8)
    raise ValueError(f"no generator for datatype {datatype!r}")


def nest(flat: list[Any], shape: list[int]) -> Any:
    if len(shape) <= 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


@st.composite
def tensor(draw: st.DrawFn, meta: dict[str, Any]) -> dict[str, Any]:
    shape = [draw(st.integers(1, 3)) if d < 0 else d for d in meta["shape"]]
    count = int(np.prod(shape)) if shape else 1
    flat = draw(st.lists(elements(meta["datatype"]), min_size=count, max_size=count))
    data = nest(flat, shape) if draw(st.booleans()) else flat
    return {"name": meta["name"], "datatype": meta["datatype"], "shape": shape, "data": data}


@st.composite
def infer_request(draw: st.DrawFn, metadata: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": [draw(tensor(m)) for m in metadata["inputs"]]}
    if draw(st.booleans()):
        body["id"] = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12))
    if draw(st.booleans()):
        body["parameters"] = {}
    names = [o["name"] for o in metadata.get("outputs", [])]
    if names and draw(st.booleans()):
        body["outputs"] = [{"name": n} for n in draw(st.lists(st.sampled_from(names), min_size=1, unique=True))]
    return body
