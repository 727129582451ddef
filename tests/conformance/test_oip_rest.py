"""Open Inference Protocol REST conformance, driven by the protocol's OpenAPI document.

Requests are generated from the document by schemathesis (positive: allowed by it; negative: not
allowed) and built from the model's metadata as a client would (tests/conformance/valid_requests.py).
Every answer is judged by tests/conformance/judge.py: a valid request gets a 2xx valid against the
documented answer schema or a 4xx ``{"error": ...}``; an invalid one a 4xx ``{"error": ...}``;
never a 5xx, never a body that is not JSON. Requests built from the metadata must also be answered
200 with the values the model computes. Bounded and deterministic: Hypothesis derandomized, a fixed
number of examples per operation, no example database.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.conformance.conftest import Target
from tests.conformance.judge import ANSWER, ANSWER_OR_ERROR, ERROR, Violations, judge
from tests.conformance.oip_spec import OK_SCHEMAS, schema_errors, schemathesis_schema
from tests.conformance.valid_requests import infer_request

SCHEMA = schemathesis_schema()
OPERATIONS = sorted(OK_SCHEMAS)
MODEL_OPERATIONS = [op for op in OPERATIONS if "{MODEL_NAME}" in op[1]]
INFER_OPERATIONS = [op for op in OPERATIONS if op[1].endswith("/infer")]


def bounded(examples: int) -> Callable:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))


def op_id(op: tuple[str, str]) -> str:
    return f"{op[0]} {op[1]}"


@pytest.fixture(scope="module")
def session() -> requests.Session:
    with requests.Session() as s:
        yield s


def served(target: Target, op: tuple[str, str]) -> st.SearchStrategy:
    """Path parameters naming the served model (and one of its versions when the path has one)."""
    if "{MODEL_VERSION}" in op[1]:
        return st.sampled_from(target.versions).map(lambda v: {"MODEL_NAME": target.model, "MODEL_VERSION": v})
    return st.just({"MODEL_NAME": target.model})


def run_schema_cases(target: Target, session: requests.Session, op: tuple[str, str], mode: GenerationMode,
                     path_parameters: st.SearchStrategy | None, examples: int, expect: str) -> Violations:
    operation = SCHEMA[op[1]][op[0]]
    if path_parameters is None:
        cases = operation.as_strategy(mode)
    else:
        cases = path_parameters.flatmap(lambda p: operation.as_strategy(mode, path_parameters=p))
    found = Violations()

    @bounded(examples)
    @given(cases)
    def send(case: Any) -> None:
        response = case.call(base_url=target.url, session=session, timeout=30, allow_redirects=False)
        content_type = response.headers.get("content-type", [""])[0]
        problems = judge(op[0], op[1], response.status_code, content_type, response.content,
                         expect=expect)
        found.add(problems, case.as_curl_command(base_url=target.url))

    send()
    return found


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_any_request_the_document_allows_gets_a_conforming_answer(target, session, op):
    """Path parameters as generated (mostly unknown models and versions: a 4xx error object)."""
    expect = ANSWER if "{" not in op[1] else ANSWER_OR_ERROR  # a health or server metadata request cannot be wrong
    found = run_schema_cases(target, session, op, GenerationMode.POSITIVE, None, 25, expect)
    assert found.requests > 0
    if found.kinds:
        pytest.fail(found.report(), pytrace=False)


@pytest.mark.parametrize("op", MODEL_OPERATIONS, ids=op_id)
def test_requests_the_document_allows_on_a_served_model_get_conforming_answers(target, session, op):
    expect = ANSWER_OR_ERROR if op[0] == "POST" else ANSWER  # a random tensor may not fit the model
    found = run_schema_cases(target, session, op, GenerationMode.POSITIVE, served(target, op), 40, expect)
    assert found.requests > 0
    if found.kinds:
        pytest.fail(found.report(), pytrace=False)


@pytest.mark.parametrize("op", INFER_OPERATIONS, ids=op_id)
def test_requests_the_document_does_not_allow_get_a_4xx_error_object(target, session, op):
    found = run_schema_cases(target, session, op, GenerationMode.NEGATIVE, served(target, op), 60, ERROR)
    assert found.requests > 0
    if found.kinds:
        pytest.fail(found.report(), pytrace=False)


def metadata(target: Target, session: requests.Session) -> dict[str, Any]:
    r = session.get(f"{target.url}/v2/models/{target.model}", timeout=30)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert not schema_errors("metadata_model_response", doc), schema_errors("metadata_model_response", doc)
    assert doc.get("inputs"), f"no inputs in the metadata: a client cannot build a request from {doc}"
    return doc


def answer_problems(target: Target, version: str | None, body: dict, status: int, headers: Any, raw: bytes,
                    meta: dict[str, Any]) -> list[str]:
    """A request built from the metadata must be answered 200 with output-k = input-k*2 + offset."""
    problems = judge("POST", "/v2/models/{MODEL_NAME}/infer", status, headers.get("content-type", ""), raw,
                     expect=ANSWER)
    if problems or status != 200:
        return problems or [f"{status} for a request built from the model's metadata: {raw[:300]!r}"]
    doc = json.loads(raw)
    backend = headers.get("x-isthmus-backend", "")
    if backend not in target.offsets:
        return [f"x-isthmus-backend {backend!r} is none of {sorted(target.offsets)}"]
    if version is not None and target.backend_versions[backend] != version:
        return [f"version {version} was answered by {backend} (version {target.backend_versions[backend]})"]
    if doc["model_name"] != target.model:
        problems.append(f"model_name {doc['model_name']!r}, expected {target.model!r}")
    if "id" in body and doc.get("id") != body["id"]:
        problems.append(f"id {doc.get('id')!r} is not the request's {body['id']!r}")
    wanted = [o["name"] for o in body.get("outputs", meta["outputs"])]
    if sorted(o["name"] for o in doc["outputs"]) != sorted(wanted):
        return problems + [f"outputs {[o['name'] for o in doc['outputs']]}, asked for {wanted}"]
    (x,) = body["inputs"]  # the toy models: one input, one output of its shape
    for out in doc["outputs"]:
        expected = np.asarray(x["data"], dtype=np.float32).reshape(-1) * np.float32(2) + np.float32(
            target.offsets[backend])
        got = np.asarray(out["data"], dtype=np.float32).reshape(-1)
        if out["shape"] != x["shape"] or out["datatype"] != "FP32":
            problems.append(f"output {out['name']} is {out['datatype']} {out['shape']}, expected FP32 {x['shape']}")
        elif not np.array_equal(got, expected):
            problems.append(f"output {out['name']} data {got.tolist()} != input*2+{target.offsets[backend]}")
    return problems


@pytest.mark.parametrize("versioned", [False, True], ids=["unversioned", "versioned"])
def test_requests_built_from_the_metadata_are_answered_with_the_models_values(target, session, versioned):
    meta = metadata(target, session)
    found = Violations()
    versions = st.sampled_from(target.versions) if versioned else st.none()

    @bounded(60)
    @given(versions, infer_request(meta))
    def send(version: str | None, body: dict) -> None:
        assert not schema_errors("inference_request", body), schema_errors("inference_request", body)
        path = f"/v2/models/{target.model}" + (f"/versions/{version}" if version else "") + "/infer"
        r = session.post(target.url + path, data=json.dumps(body), headers={"content-type": "application/json"},
                         timeout=30)
        found.add(answer_problems(target, version, body, r.status_code, r.headers, r.content, meta),
                  f"curl -X POST {target.url}{path} -H 'content-type: application/json' -d '{json.dumps(body)}'")

    send()
    assert found.requests == 60
    if found.kinds:
        pytest.fail(found.report(), pytrace=False)


GOOD_INPUT = {"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}

# bodies the document does not allow, each named by the rule it breaks
INVALID_BODIES: dict[str, bytes] = {
    "empty body": b"",
    "not JSON": b"{\"inputs\": [",
    "JSON null": b"null",
    "JSON array": b"[]",
    "JSON string": b"\"inputs\"",
    "no inputs": json.dumps({"id": "1"}).encode(),
    "inputs null": json.dumps({"inputs": None}).encode(),
    "inputs an object": json.dumps({"inputs": GOOD_INPUT}).encode(),
    "id a number": json.dumps({"id": 7, "inputs": [GOOD_INPUT]}).encode(),
    "id null": json.dumps({"id": None, "inputs": [GOOD_INPUT]}).encode(),
    "parameters null": json.dumps({"parameters": None, "inputs": [GOOD_INPUT]}).encode(),
    "parameters a list": json.dumps({"parameters": [1], "inputs": [GOOD_INPUT]}).encode(),
    "input parameters null": json.dumps({"inputs": [GOOD_INPUT | {"parameters": None}]}).encode(),
    "input without name": json.dumps({"inputs": [{k: v for k, v in GOOD_INPUT.items() if k != "name"}]}).encode(),
    "input name a number": json.dumps({"inputs": [GOOD_INPUT | {"name": 0}]}).encode(),
    "input without datatype": json.dumps(
        {"inputs": [{k: v for k, v in GOOD_INPUT.items() if k != "datatype"}]}).encode(),
    "input without shape": json.dumps({"inputs": [{k: v for k, v in GOOD_INPUT.items() if k != "shape"}]}).encode(),
    "shape a string": json.dumps({"inputs": [GOOD_INPUT | {"shape": "1,4"}]}).encode(),
    "shape of floats": json.dumps({"inputs": [GOOD_INPUT | {"shape": [1, 4.5]}]}).encode(),
    "input without data": json.dumps({"inputs": [{k: v for k, v in GOOD_INPUT.items() if k != "data"}]}).encode(),
    "data a number": json.dumps({"inputs": [GOOD_INPUT | {"shape": [1], "data": 1.0}]}).encode(),
    "data with null": json.dumps({"inputs": [GOOD_INPUT | {"data": [1, None, 3, 4]}]}).encode(),
    "data with an object": json.dumps({"inputs": [GOOD_INPUT | {"data": [1, {"v": 2}, 3, 4]}]}).encode(),
    "outputs an object": json.dumps({"inputs": [GOOD_INPUT], "outputs": {"name": "output-0"}}).encode(),
    "output without name": json.dumps({"inputs": [GOOD_INPUT], "outputs": [{}]}).encode(),
    "output parameters null": json.dumps(
        {"inputs": [GOOD_INPUT], "outputs": [{"name": "output-0", "parameters": None}]}).encode(),
}


@pytest.mark.parametrize("what", list(INVALID_BODIES))
@pytest.mark.parametrize("op", INFER_OPERATIONS, ids=op_id)
def test_named_invalid_request_gets_a_4xx_error_object(target, session, op, what):
    path = op[1].replace("{MODEL_NAME}", target.model).replace("{MODEL_VERSION}", target.versions[0])
    r = session.post(target.url + path, data=INVALID_BODIES[what], headers={"content-type": "application/json"},
                     timeout=30)
    problems = judge(*op, r.status_code, r.headers.get("content-type", ""), r.content, expect=ERROR)
    assert not problems, f"{what}: {r.status_code} {r.content[:300]!r}: {problems}"


def test_the_gateway_logged_no_traceback(target):
    """Runs after the others of its gateway (file order): bad input is never a traceback in the log."""
    log = target.gateway.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]
