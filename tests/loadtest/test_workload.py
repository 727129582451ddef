"""Request builders: paths per protocol, generated tensors, distinct vs repeated inputs, request files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from isthmus.loadtest.workload import (
    WorkloadError,
    WorkloadSpec,
    build_requests,
    default_path,
    file_bodies,
)


@pytest.mark.parametrize(("protocol", "path"), [
    ("v2", "/v2/models/m/infer"), ("v1", "/v1/models/m:predict"), ("tfserving", "/v1/models/m:predict"), ("ray", "/m"),
])
def test_default_paths(protocol: str, path: str) -> None:
    assert default_path(protocol, "m") == path
    assert build_requests(WorkloadSpec(protocol=protocol, model="m"), random.Random(0), 1)[0].path == path


def test_a_given_path_wins() -> None:
    assert build_requests(WorkloadSpec(protocol="ray", path="/api/score"), random.Random(0), 1)[0].path == "/api/score"


def test_v2_body_has_the_shape_and_datatype() -> None:
    [req] = build_requests(WorkloadSpec(shape=(2, 3), datatype="INT64"), random.Random(0), 1)
    [tensor] = json.loads(req.body)["inputs"]
    assert tensor["shape"] == [2, 3] and tensor["datatype"] == "INT64"
    assert len(tensor["data"]) == 6 and all(isinstance(v, int) for v in tensor["data"])


@pytest.mark.parametrize("protocol", ["v1", "tfserving"])
def test_v1_body_is_a_batch_of_instances(protocol: str) -> None:
    [req] = build_requests(WorkloadSpec(protocol=protocol, shape=(3, 2), datatype="FP32"), random.Random(0), 1)
    instances = json.loads(req.body)["instances"]
    assert len(instances) == 3 and all(len(row) == 2 and all(isinstance(v, float) for v in row) for row in instances)


def test_bool_and_uint8_values_are_in_range() -> None:
    [b] = build_requests(WorkloadSpec(datatype="BOOL", shape=(50,)), random.Random(0), 1)
    assert {type(v) for v in json.loads(b.body)["inputs"][0]["data"]} == {bool}
    [u] = build_requests(WorkloadSpec(datatype="UINT8", shape=(500,)), random.Random(0), 1)
    assert all(0 <= v <= 255 for v in json.loads(u.body)["inputs"][0]["data"])


def test_distinct_fraction() -> None:
    all_new = build_requests(WorkloadSpec(distinct=1.0), random.Random(1), 1000)
    assert len({r.body for r in all_new}) == 1000
    repeated = build_requests(WorkloadSpec(distinct=0.0, pool=5), random.Random(1), 1000)
    assert len(repeated) == 1000 and len({r.body for r in repeated}) <= 5
    mixed = build_requests(WorkloadSpec(distinct=0.3, pool=4), random.Random(1), 2000)
    assert 500 < len({r.body for r in mixed}) - 4 < 700  # ~600 new inputs, plus at most the pool


def test_same_rng_same_requests() -> None:
    spec = WorkloadSpec(distinct=0.5, users=10)
    assert build_requests(spec, random.Random(9), 100) == build_requests(spec, random.Random(9), 100)


def test_users_header_and_extra_headers() -> None:
    reqs = build_requests(WorkloadSpec(users=3, headers=(("x-a", "1"),), distinct=0.0, pool=1), random.Random(2), 300)
    assert len(reqs) == 300
    assert all(r.headers[0] == ("x-a", "1") for r in reqs)
    assert {r.headers[1] for r in reqs} == {("x-user-id", f"user-{i}") for i in range(3)}


def test_requests_file_in_order(tmp_path: Path) -> None:
    f = tmp_path / "reqs.jsonl"
    f.write_text('{"instances": [[1, 2]]}\n\n{"instances": [[3,  4]]}\n')
    reqs = build_requests(WorkloadSpec(protocol="v1", requests_file=str(f)), random.Random(0), 10)
    assert [r.body for r in reqs] == [b'{"instances":[[1,2]]}', b'{"instances":[[3,4]]}']


def test_bad_requests_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"ok": 1}\nnot json\n')
    with pytest.raises(WorkloadError, match="bad.jsonl:2"):
        file_bodies(f)
    with pytest.raises(WorkloadError, match="cannot read"):
        file_bodies(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("spec", [
    WorkloadSpec(protocol="grpc"), WorkloadSpec(datatype="FP8"), WorkloadSpec(shape=(0, 4)),
    WorkloadSpec(distinct=1.5), WorkloadSpec(pool=0),
])
def test_bad_specs(spec: WorkloadSpec) -> None:
    with pytest.raises(WorkloadError):
        build_requests(spec, random.Random(0), 1)
