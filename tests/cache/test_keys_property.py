"""Cache keys cannot lie, checked by generated requests built through the real ingress decoders.

- Pairs that differ in ONE field that can change the answer (a value, a datatype, a shape, an input
  name, a request parameter, a requested output or its parameters, the binary-output choice, the
  signature name, the version, the variant, the tenant, the model) get different keys.
- Pairs that differ only in how the request is spelled (JSON key order, whitespace, number spelling,
  nested or flat data, tensors as JSON or as binary tensor data, ``binary_data: false`` said or not,
  the request id) get the same key.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.cache.keys import request_key
from isthmus.codecs import InferRequest, v2, v2_binary

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WHO = {"model": "m", "backend": "m-v1", "version": "1", "tenant": None}
DTYPES = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT32": np.int32, "BOOL": np.bool_}


def values_of(datatype: str, n: int) -> st.SearchStrategy[list[Any]]:
    if datatype in ("FP32", "FP16", "FP64"):
        width = {"FP32": 32, "FP16": 16, "FP64": 64}[datatype]
        return st.lists(st.floats(width=width, allow_nan=False, allow_infinity=False), min_size=n, max_size=n)
    if datatype == "INT32":
        return st.lists(st.integers(-(2**31), 2**31 - 1), min_size=n, max_size=n)
    if datatype == "BOOL":
        return st.lists(st.booleans(), min_size=n, max_size=n)
    return st.lists(st.text(max_size=6), min_size=n, max_size=n)  # BYTES


@st.composite
def tensors(draw, name: str) -> dict[str, Any]:
    datatype = draw(st.sampled_from(["FP32", "FP16", "FP64", "INT32", "BOOL", "BYTES"]))
    n = draw(st.integers(1, 4))
    shape = draw(st.sampled_from([[n], [1, n]]))
    return {"name": name, "datatype": datatype, "shape": shape, "data": draw(values_of(datatype, n))}


PARAM_VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=4), st.booleans())


@st.composite
def specs(draw) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["a", "b", "input-0"]), min_size=1, max_size=3, unique=True))
    spec: dict[str, Any] = {"inputs": [draw(tensors(n)) for n in names]}
    spec["parameters"] = draw(st.dictionaries(st.sampled_from(["priority", "temperature", "mode"]), PARAM_VALUES,
                                              max_size=2))
    outputs = draw(st.lists(st.sampled_from(["y", "z", "scores"]), max_size=2, unique=True))
    spec["outputs"] = [{"name": o, "parameters": draw(st.dictionaries(st.just("classification"), st.integers(1, 5),
                                                                          max_size=1))} for o in outputs]
    spec["binary_output"] = draw(st.booleans())  # request-level binary_data_output
    return spec


# --- spelling a spec as a body, in any of its equivalent forms ---------------------------------


class Raw(str):
    """A JSON token written as is (a number spelled a particular way)."""


def spell_number(draw, datatype: str, v: Any) -> Any:
    if datatype == "BOOL" or datatype == "BYTES":
        return v
    if datatype == "INT32":
        return Raw(draw(st.sampled_from([str(v), f"{v}.0", f"{v}e0"])))
    f = float(v)
    spellings = [repr(f)]
    if datatype != "FP64":  # the float64 spelling and the shortest FP32/FP16 one ("0.1"): the same tensor
        spellings.append(repr(float(np.asarray(f, DTYPES[datatype]))))
        spellings.append(str(DTYPES[datatype](f)))
    if f == int(f) and abs(f) < 1e15 and math.copysign(1.0, f) > 0:  # "0" would be +0.0 for -0.0
        spellings += [str(int(f)), f"{int(f)}e0"]
    return Raw(draw(st.sampled_from(spellings)))


def render(draw, obj: Any) -> str:
    ws = draw(st.sampled_from(["", " ", "\n  "]))
    if isinstance(obj, Raw):
        return str(obj)
    if isinstance(obj, dict):
        keys = draw(st.permutations(list(obj)))
        return "{" + ",".join(f"{ws}{orjson.dumps(k).decode()}{ws}:{render(draw, obj[k])}" for k in keys) + ws + "}"
    if isinstance(obj, list):
        return "[" + ",".join(ws + render(draw, v) for v in obj) + ws + "]"
    return orjson.dumps(obj).decode()


def raw_layout(t: dict[str, Any]) -> bytes:
    if t["datatype"] == "BYTES":
        return b"".join(len(s.encode()).to_bytes(4, "little") + s.encode() for s in t["data"])
    return np.asarray(t["data"], DTYPES[t["datatype"]]).astype(np.dtype(DTYPES[t["datatype"]]).newbyteorder("<")).tobytes()


def spelled(draw, spec: dict[str, Any]) -> InferRequest:
    """One of the many bodies of ``spec``, decoded by the ingress decoder its form needs."""
    doc: dict[str, Any] = {"inputs": []}
    chunks = []
    for t in spec["inputs"]:
        if draw(st.booleans()):  # as binary tensor data
            raw = raw_layout(t)
            params = {"binary_data_size": len(raw)}
            doc["inputs"].append({"name": t["name"], "datatype": t["datatype"], "shape": t["shape"], "parameters": params})
            chunks.append(raw)
        else:
            data = [spell_number(draw, t["datatype"], v) for v in t["data"]]
            if len(t["shape"]) == 2 and draw(st.booleans()):
                data = [data]  # nested as the shape, or flat: the same tensor
            doc["inputs"].append({"name": t["name"], "datatype": t["datatype"], "shape": t["shape"], "data": data})
    params = dict(spec["parameters"])
    if spec["binary_output"]:
        params["binary_data_output"] = True
    elif draw(st.booleans()):
        params["binary_data_output"] = False  # said or not: all outputs JSON either way
    if params:
        doc["parameters"] = params
    outputs = []
    for o in spec["outputs"]:
        p = dict(o["parameters"])
        if draw(st.booleans()):
            p["binary_data"] = spec["binary_output"]  # the same as the request's default: no change
        outputs.append({"name": o["name"], **({"parameters": p} if p else {})})
    if outputs or draw(st.booleans()):
        doc["outputs"] = outputs
    if draw(st.booleans()):
        doc["id"] = draw(st.text(max_size=5))
    header = render(draw, doc).encode()
    if chunks:
        return v2_binary.decode_request(header + b"".join(chunks), str(len(header)))
    return v2.decode_request(header)


def key(request: InferRequest, **who: Any) -> str:
    return request_key(request, **{**WHO, **who})


@SETTINGS
@given(specs(), st.data())
def test_two_spellings_of_one_request_share_a_key(spec, data):
    draw = data.draw
    assert key(spelled(draw, spec)) == key(spelled(draw, spec))


# --- one answer-affecting change ------------------------------------------------------------------


def other_value(draw, datatype: str, v: Any) -> Any:
    if datatype == "BOOL":
        return not v
    if datatype == "BYTES":
        return draw(st.text(max_size=6).filter(lambda s: s != v))
    if datatype == "INT32":
        return v + 1 if v < 2**31 - 1 else v - 1
    dt = DTYPES[datatype]
    new = draw(values_of(datatype, 1))[0]
    if np.asarray(new, dt).tobytes() == np.asarray(v, dt).tobytes():
        new = float(np.nextafter(np.asarray(v, dt), np.asarray(math.inf, dt)))
    return new


CHANGES = ["value", "datatype", "shape", "name", "parameter", "output", "output_parameter", "binary",
           "signature", "version", "backend", "tenant", "model"]


def changed(draw, spec: dict[str, Any], change: str) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """``spec`` with ``change`` made: (new spec, who changes, signature name)."""
    spec = orjson.loads(orjson.dumps(spec))  # a deep copy
    t = spec["inputs"][draw(st.integers(0, len(spec["inputs"]) - 1))]
    if change == "value":
        i = draw(st.integers(0, len(t["data"]) - 1))
        t["data"][i] = other_value(draw, t["datatype"], t["data"][i])
    elif change == "datatype":
        if t["datatype"] == "BYTES":
            t["datatype"], t["data"] = "INT32", [len(s) for s in t["data"]]
        elif t["datatype"] == "BOOL":
            t["datatype"], t["data"] = "INT32", [int(b) for b in t["data"]]
        else:  # the same numbers in another datatype
            t["datatype"] = {"FP32": "FP64", "FP16": "FP32", "FP64": "FP32", "INT32": "FP64"}[t["datatype"]]
            if t["datatype"] == "FP32":
                t["data"] = [float(np.float32(np.clip(v, -3e38, 3e38))) for v in t["data"]]  # within FP32
    elif change == "shape":
        t["shape"] = [1, t["shape"][0]] if len(t["shape"]) == 1 else [t["shape"][1]]
    elif change == "name":
        taken = {x["name"] for x in spec["inputs"]}
        t["name"] = draw(st.sampled_from(["c", "d", "e"]).filter(lambda n: n not in taken))
    elif change == "parameter":
        spec["parameters"]["priority"] = 99 if spec["parameters"].get("priority") != 99 else 98
    elif change == "output":
        spec["outputs"].append({"name": "extra", "parameters": {}})
    elif change == "output_parameter":
        if not spec["outputs"]:
            spec["outputs"].append({"name": "y", "parameters": {}})
        o = spec["outputs"][0]["parameters"]
        o["classification"] = o.get("classification", 0) + 1
    elif change == "binary":
        spec["binary_output"] = not spec["binary_output"]
    elif change == "signature":
        return spec, {}, "other_signature"
    else:
        return spec, {change: {"version": "2", "backend": "m-v2", "tenant": "acme", "model": "n"}[change]}, None
    return spec, {}, None


@SETTINGS
@given(specs(), st.sampled_from(CHANGES), st.data())
def test_a_change_that_can_change_the_answer_changes_the_key(spec, change, data):
    draw = data.draw
    new_spec, who, signature = changed(draw, spec, change)
    new = spelled(draw, new_spec)
    if signature is not None:
        new = dataclasses.replace(new, signature_name=signature)
    assert key(spelled(draw, spec)) != key(new, **who), change


def test_the_reported_wrong_answer_classification_is_its_own_key():
    """The case of issue #12: {"classification": 2} was answered from the cache with the plain tensor."""
    plain = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{"name":"y"}]}'
    classify = (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],'
                b'"outputs":[{"name":"y","parameters":{"classification":2}}]}')
    assert key(v2.decode_request(plain)) != key(v2.decode_request(classify))
