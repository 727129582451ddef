"""What a load test sends: pure builders of request paths, headers and pre-encoded bodies.

Bodies are encoded once, before the clock starts, so the hot loop does no JSON work. A
generated workload draws its tensors from an injected RNG: a ``distinct`` fraction of requests
get new inputs (cache misses), the rest reuse a small pool (cache hits). A file workload sends
the JSON bodies of a JSONL file (one body per line) in order, cycling. For ``v2-grpc`` a body is
a serialised ``ModelInferRequest`` (raw contents), built from the tensor or from a V2 JSON line.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import orjson

from isthmus.loadtest.errors import LoadTestError

PROTOCOLS = ("v2", "v1", "tfserving", "ray", "v2-grpc")
GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"
INT_RANGES = {
    "INT8": (-128, 127), "INT16": (-32768, 32767), "INT32": (-(2**31), 2**31 - 1), "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 255), "UINT16": (0, 65535), "UINT32": (0, 2**32 - 1), "UINT64": (0, 2**64 - 1),
}
FLOAT_TYPES = ("FP16", "FP32", "FP64")
DATATYPES = (*FLOAT_TYPES, *INT_RANGES, "BOOL")
MAX_PREBUILT = 100_000  # bodies kept per worker; beyond this the sequence repeats
MAX_PREBUILT_BYTES = 256 * 2**20  # ... and at most this much of them


class WorkloadError(LoadTestError, ValueError):
    """A workload that cannot be built (bad shape, datatype, protocol or request file)."""


@dataclass(frozen=True)
class Request:
    """One request as the transport will send it (transport-neutral: HTTP today, gRPC later)."""

    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WorkloadSpec:
    protocol: str = "v2"
    model: str = "model"
    path: str | None = None  # overrides the protocol's default path
    shape: tuple[int, ...] = (1, 4)
    datatype: str = "FP32"
    distinct: float = 1.0  # fraction of requests with new inputs
    pool: int = 16  # how many repeated inputs there are
    requests_file: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    users: int = 0  # > 0: an x-user-id header drawn from this many users
    user_header: str = "x-user-id"

    def check(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise WorkloadError(f"unknown protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.datatype not in DATATYPES:
            raise WorkloadError(f"unknown datatype {self.datatype!r}: expected one of {', '.join(DATATYPES)}")
        if not self.shape or any(d < 1 for d in self.shape) or math.prod(self.shape) > 1_000_000:
            raise WorkloadError(f"bad shape {self.shape}: positive dimensions, at most 1,000,000 elements")
        if not 0.0 <= self.distinct <= 1.0:
            raise WorkloadError(f"distinct must be between 0 and 1, got {self.distinct}")
        if self.pool < 1 or self.users < 0:
            raise WorkloadError("pool must be >= 1 and users >= 0")
        if self.protocol == "v2-grpc" and self.path is not None:
            raise WorkloadError(f"--path does not apply to v2-grpc (the method is {GRPC_METHOD})")


def default_path(protocol: str, model: str) -> str:
    if protocol == "v2":
        return f"/v2/models/{model}/infer"
    if protocol in ("v1", "tfserving"):
        return f"/v1/models/{model}:predict"
    if protocol == "v2-grpc":
        return GRPC_METHOD
    return f"/{model}"


def random_values(datatype: str, shape: Sequence[int], rng: random.Random) -> np.ndarray:
    """A tensor of ``shape``; the values come from ``rng`` (via a numpy generator it seeds)."""
    gen = np.random.default_rng(rng.getrandbits(64))
    if datatype in FLOAT_TYPES:
        return np.round(gen.uniform(-1.0, 1.0, size=shape), 6)  # float64: short, exact JSON numbers
    if datatype == "BOOL":
        return gen.random(size=shape) < 0.5
    lo, hi = INT_RANGES[datatype]
    lo, hi = max(lo, -1000), min(hi, 1000)  # small magnitudes: any backend's JSON number parser copes
    return gen.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)


def encode_body(spec: WorkloadSpec, values: np.ndarray) -> bytes:
    """One inference body in the spec's protocol for the tensor ``values`` (of the spec's shape)."""
    if spec.protocol == "v2-grpc":
        from isthmus.codecs import InferRequest, Tensor, v2_grpc
        from isthmus.codecs.tensors import DATATYPES

        tensor = Tensor("input-0", spec.datatype, np.asarray(values).astype(DATATYPES[spec.datatype]))
        return v2_grpc.encode_request(InferRequest(), (tensor,), spec.model).SerializeToString()
    if spec.protocol == "v2":
        doc: Any = {"inputs": [{"name": "input-0", "datatype": spec.datatype, "shape": list(spec.shape), "data": values.ravel()}]}
    elif spec.protocol in ("v1", "tfserving"):
        doc = {"instances": values}  # the first dimension is the batch of instances
    else:
        doc = {"data": values}
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def generated_bodies(spec: WorkloadSpec, rng: random.Random, count: int) -> list[bytes]:
    """``count`` bodies (at most MAX_PREBUILT / MAX_PREBUILT_BYTES; callers cycle): a ``distinct`` share new, the rest from a pool."""
    pool = [encode_body(spec, random_values(spec.datatype, spec.shape, rng)) for _ in range(spec.pool)]
    budget = max(spec.pool, MAX_PREBUILT_BYTES // max(len(pool[0]), 1))
    picks = [rng.random() < spec.distinct for _ in range(max(1, min(count, MAX_PREBUILT, budget)))]
    fresh = iter(random_values(spec.datatype, (sum(picks), *spec.shape), rng))  # one draw for all new inputs
    return [encode_body(spec, next(fresh)) if new else pool[rng.randrange(len(pool))] for new in picks]


def file_bodies(path: str | Path, spec: WorkloadSpec | None = None) -> list[bytes]:
    """The bodies of a JSONL file, each line checked to be JSON and re-encoded compactly (for
    ``v2-grpc``: each line a V2 JSON request, converted to a serialised ``ModelInferRequest``)."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkloadError(f"cannot read requests file {path}: {exc.strerror}") from exc
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(orjson.dumps(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise WorkloadError(f"{path}:{number}: not a JSON body: {exc}") from exc
        if spec is not None and spec.protocol == "v2-grpc":
            out[-1] = _grpc_body(out[-1], spec.model, f"{path}:{number}")
    if not out:
        raise WorkloadError(f"{path}: no requests in the file")
    return out


def _grpc_body(body: bytes, model: str, where: str) -> bytes:
    from isthmus.codecs import CodecError, v2, v2_grpc

    try:
        request = v2.decode_request(body)
        return v2_grpc.encode_request(request, request.inputs, model).SerializeToString()
    except CodecError as exc:
        raise WorkloadError(f"{where}: not a V2 request: {exc}") from exc


def build_requests(spec: WorkloadSpec, rng: random.Random, count: int) -> list[Request]:
    """The sequence of requests one worker cycles through (request k uses item k mod len)."""
    spec.check()
    path = spec.path or default_path(spec.protocol, spec.model)
    bodies = file_bodies(spec.requests_file, spec) if spec.requests_file else generated_bodies(spec, rng, count)
    if spec.users:
        length = max(len(bodies), min(max(count, 1), MAX_PREBUILT))
        return [
            Request(path, bodies[i % len(bodies)], (*spec.headers, (spec.user_header, f"user-{rng.randrange(spec.users)}")))
            for i in range(length)
        ]
    return [Request(path, body, spec.headers) for body in bodies]
