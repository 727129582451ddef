"""Cross checks of the upstream settings: each problem reported at its file:line: field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from isthmus.config import ConfigError, parse_config

HEAD = """\
backends:
  - name: a
    protocol: kserve-v2
    endpoints: [http://a1:8080, http://a2:8080]
    timeout: 2s
"""
ROUTE = """\
routes:
  - model: m
    variants: [{backend: a, weight: 1}]
"""


def parse(text: str, tmp_path: Path):
    (tmp_path / "model.onnx").write_bytes(b"x")
    return parse_config(textwrap.dedent(text), "t.yaml", tmp_path)


def errors(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(text, tmp_path)
    return [str(i) for i in err.value.issues]


def test_a_config_using_every_check_correctly_is_accepted(tmp_path):
    text = HEAD + """\
    load_balancer: {policy: least_request, weights: {"http://a2:8080": 3}}
    retries: {retry_on: [connect-failure, gateway-error], num_retries: 2, per_try_timeout: 2s}
    circuit_breakers: {retry_budget: {budget_percent: 0, min_retry_concurrency: 1}}
    health_check: {path: /v2/models/m/ready}
  - name: g
    protocol: kserve-v2-grpc
    endpoints: ["g1:8081", "grpc://g2:8081"]
    load_balancer: {weights: {"g1:8081": 2, "grpc://g2:8081": 1}}
    health_check: {interval: 2s}
  - name: local
    protocol: onnx
    model_path: model.onnx
routes:
  - model: m
    variants: [{backend: a, weight: 1}, {backend: g, weight: 1}]
    fallback: local
    hedging: {after: 1500ms}
"""
    config = parse(text, tmp_path)
    assert config.backend("a").load_balancer.weights == {"http://a2:8080": 3}
    assert config.backend("g").endpoints == ["grpc://g1:8081", "grpc://g2:8081"]


def test_weights_must_name_the_backends_endpoints(tmp_path):
    text = HEAD + '    load_balancer:\n      weights: {"http://a3:8080": 2, "http://a1:8080": 1}\n' + ROUTE
    assert errors(text, tmp_path) == [
        "t.yaml:7: backends[0].load_balancer.weights.http://a3:8080: 'http://a3:8080' is not one of this "
        "backend's endpoints (http://a1:8080, http://a2:8080): weights are keyed by the endpoint as written in endpoints"
    ]


def test_per_try_timeout_must_fit_in_the_backend_timeout(tmp_path):
    text = HEAD + "    retries:\n      per_try_timeout: 2500ms\n" + ROUTE
    assert errors(text, tmp_path) == [
        "t.yaml:7: backends[0].retries.per_try_timeout: per_try_timeout (2.5s) exceeds the backend's timeout (2s), "
        "which bounds all tries together: lower it, or raise timeout"
    ]
    default_timeout = HEAD.replace("    timeout: 2s\n", "") + "    retries: {per_try_timeout: 11s}\n" + ROUTE
    assert "exceeds the backend's timeout (10s)" in errors(default_timeout, tmp_path)[0]


def test_retries_the_breakers_can_never_run_are_refused(tmp_path):
    budget = HEAD + "    circuit_breakers:\n      retry_budget: {budget_percent: 0, min_retry_concurrency: 0}\n" + ROUTE
    assert errors(budget, tmp_path) == [
        "t.yaml:7: backends[0].circuit_breakers.retry_budget: the retry budget allows no retry in flight "
        "(budget_percent: 0, min_retry_concurrency: 0): the 1 retry of retries.num_retries could never run; "
        "allow some, or set retries.num_retries: 0"
    ]
    fixed = budget.replace("    circuit_breakers:", "    retries: {num_retries: 0}\n    circuit_breakers:")
    parse(fixed, tmp_path)
    max_retries = HEAD + "    circuit_breakers: {retry_budget: null, max_retries: 0}\n    retries: {num_retries: 3}\n"
    out = errors(max_retries + ROUTE, tmp_path)
    assert len(out) == 1 and out[0].startswith(
        "t.yaml:6: backends[0].circuit_breakers.max_retries: circuit_breakers allow no retry in flight "
        "(max_retries: 0): the 3 retries of retries.num_retries could never run"
    )


def test_hedging_after_must_be_shorter_than_every_variants_timeout(tmp_path):
    text = HEAD + """\
  - name: b
    protocol: ray-serve
    endpoints: [http://b:8000]
    timeout: 500ms
routes:
  - model: m
    variants: [{backend: a, weight: 1}, {backend: b, weight: 1}]
    hedging:
      after: 500ms
"""
    assert errors(text, tmp_path) == [
        "t.yaml:14: routes[0].hedging.after: hedging.after (500ms) must be shorter than the timeout of backend 'b' "
        "(500ms): no hedge could be sent before the request times out"
    ]


def test_hedging_needs_retries_in_flight_and_an_idempotent_route(tmp_path):
    text = HEAD + "    circuit_breakers: {retry_budget: {budget_percent: 0, min_retry_concurrency: 0}}\n" + """\
    retries: {num_retries: 0}
routes:
  - model: m
    variants: [{backend: a, weight: 1}]
    idempotent: false
    hedging: {after: 100ms}
"""
    assert errors(text, tmp_path) == [
        "t.yaml:12: routes[0].hedging: a route with idempotent: false is never hedged (a hedge sends the request "
        "a second time): remove hedging, or idempotent: false",
        "t.yaml:12: routes[0].hedging: hedges count against the retries in flight of backend 'a', whose "
        "circuit_breakers allow none: this route could never hedge",
    ]


@pytest.mark.parametrize("protocol, how", [("kserve-v2-grpc", "grpc.health.v1"), ("tfserving-grpc", "GetModelStatus")])
def test_grpc_backends_have_no_health_check_path(tmp_path, protocol, how):
    text = f"""\
backends:
  - name: a
    protocol: {protocol}
    endpoints: ["a:8500"]
    health_check:
      path: /healthz
""" + ROUTE
    out = errors(text, tmp_path)
    assert len(out) == 1 and out[0].startswith(f"t.yaml:6: backends[0].health_check.path: {protocol} backends are")
    assert how in out[0] and out[0].endswith("not with an HTTP path: remove path")


def test_onnx_backends_are_told_why_they_have_no_upstream_settings(tmp_path):
    text = """\
backends:
  - name: a
    protocol: onnx
    model_path: model.onnx
    retries: {num_retries: 2}
    load_balancer: {policy: least_request}
""" + ROUTE
    # the schema's "unknown field" stays (as for a mapping on a non-JSON backend), with the reason next to it
    assert errors(text, tmp_path) == [
        "t.yaml:5: backends[0].retries: 'retries' is for remote backends: an onnx backend runs in the gateway "
        "process, with no endpoints to connect to, balance, check, eject or retry",
        "t.yaml:5: backends[0].retries: unknown field 'retries'",
        "t.yaml:6: backends[0].load_balancer: 'load_balancer' is for remote backends: an onnx backend runs in the "
        "gateway process, with no endpoints to connect to, balance, check, eject or retry",
        "t.yaml:6: backends[0].load_balancer: unknown field 'load_balancer'",
    ]


def test_other_unknown_fields_of_onnx_backends_are_still_reported(tmp_path):
    text = "backends:\n  - name: a\n    protocol: onnx\n    model_path: model.onnx\n    retires: 1\n" + ROUTE
    assert errors(text, tmp_path) == ["t.yaml:5: backends[0].retires: unknown field 'retires'"]


def test_invalid_values_are_left_to_the_schema(tmp_path):
    text = HEAD.replace("timeout: 2s", "timeout: soon") + (
        "    retries: {per_try_timeout: later}\n    circuit_breakers: {retry_budget: {budget_percent: x}}\n"
        "    load_balancer: {weights: [1]}\n"
    ) + ROUTE
    out = errors(text, tmp_path)
    assert out and all("invalid duration" in e or "budget_percent" in e or "weights" in e for e in out), out
    assert not any("exceeds" in e or "could never" in e or "is not one of" in e for e in out)
