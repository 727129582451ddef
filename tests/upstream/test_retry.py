import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.backends.errors import (
    BackendFailed,
    BackendOverloaded,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from isthmus.config.resilience import BackoffConfig, RetryPolicyConfig
from isthmus.upstream.outcome import Outcome, outcome_of
from isthmus.upstream.retry import RetryPolicy

B = "b"
FAILURES = {
    "refused": BackendUnavailable(B, "connection refused", sent=False),
    "grpc-refused": BackendUnavailable(B, "failed to connect", sent=False, grpc_code="UNAVAILABLE"),
    "reset": BackendUnavailable(B, "connection reset"),
    "timeout": BackendTimeout(B, "no answer in 200ms"),
    "503": BackendUnavailable(B, "503", status=503),
    "429": BackendUnavailable(B, "429", status=429, retry_after=2.0),
    "500": BackendFailed(B, "500", upstream_status=500),
    "502": BackendFailed(B, "502", upstream_status=502),
    "undecodable": BackendFailed(B, "not JSON"),
    "409": BackendRejected(B, "conflict", status=409),
    "grpc-unavailable": BackendUnavailable(B, "UNAVAILABLE", grpc_code="UNAVAILABLE"),
    "grpc-exhausted": BackendUnavailable(B, "RESOURCE_EXHAUSTED", grpc_code="RESOURCE_EXHAUSTED"),
    "grpc-internal": BackendFailed(B, "INTERNAL", grpc_code="INTERNAL"),
    "grpc-cancelled": BackendFailed(B, "CANCELLED", grpc_code="CANCELLED"),
    "overloaded": BackendOverloaded(B, "max_requests"),
}
ALL = set(FAILURES)
RESETS = {"refused", "grpc-refused", "reset", "timeout"}

# retry_on -> the failures it retries on an idempotent route (Envoy's meaning)
TABLE = {
    "connect-failure": {"refused", "grpc-refused"},
    "refused-stream": {"grpc-refused"},
    "reset": RESETS,
    "gateway-error": RESETS | {"503", "502"},
    "5xx": RESETS | {"503", "500", "502"},
    "retriable-status-codes": {"429", "409"},
    "unavailable": {"grpc-refused", "grpc-unavailable"},
    "resource-exhausted": {"grpc-exhausted"},
    "internal": {"grpc-internal"},
    "cancelled": {"grpc-cancelled"},
    "deadline-exceeded": set(),
}


def retried(policy: RetryPolicy) -> set[str]:
    return {name for name, exc in FAILURES.items() if policy.retries(outcome_of(exc), exc)}


@pytest.mark.parametrize("retry_on", sorted(TABLE))
def test_retry_on_table(retry_on):
    config = RetryPolicyConfig(retry_on=[retry_on], retriable_status_codes=[409, 429])
    assert retried(RetryPolicy.of(config, idempotent=True)) == TABLE[retry_on]


@pytest.mark.parametrize("retry_on", sorted(TABLE))
def test_a_non_idempotent_route_retries_only_what_was_never_sent(retry_on):
    config = RetryPolicyConfig(retry_on=[retry_on], retriable_status_codes=[409, 429])
    expected = TABLE[retry_on] & {"refused", "grpc-refused"}
    assert retried(RetryPolicy.of(config, idempotent=False)) == expected


def test_the_default_retries_connect_failures_once():
    policy = RetryPolicy.of(RetryPolicyConfig(), idempotent=True)
    assert policy.num_retries == 1 and policy.per_try_timeout is None
    assert retried(policy) == {"refused", "grpc-refused"}


def test_the_gateways_own_refusal_and_an_undecodable_answer_are_never_retried():
    config = RetryPolicyConfig(retry_on=list(TABLE), retriable_status_codes=list(range(400, 600)))
    # an undecodable answer carries no 5xx status (Envoy never retries a 200)
    assert retried(RetryPolicy.of(config, idempotent=True)) == ALL - {"overloaded", "undecodable"}


def test_a_success_is_not_retried():
    policy = RetryPolicy.of(RetryPolicyConfig(retry_on=list(TABLE)), idempotent=True)
    assert policy.retries(Outcome.SUCCESS, None) is False


def test_backoff_defaults_to_envoys_25ms_base_and_250ms_cap():
    policy = RetryPolicy.of(RetryPolicyConfig(), idempotent=True)
    top = lambda: 1.0 - 1e-12  # noqa: E731
    assert policy.backoff(0, top) == pytest.approx(0.025)
    assert policy.backoff(2, top) == pytest.approx(0.1)
    assert policy.backoff(3, top) == pytest.approx(0.2)
    assert policy.backoff(4, top) == pytest.approx(0.25) and policy.backoff(60, top) == pytest.approx(0.25)
    assert policy.backoff(5, lambda: 0.0) == 0.0


@given(
    st.integers(0, 100),
    st.floats(0.001, 1.0),
    st.one_of(st.none(), st.floats(0.001, 5.0)),
    st.floats(0.0, 1.0, exclude_max=True),
)
def test_backoff_is_fully_jittered_within_its_bounds(n, base, max_interval, r):
    if max_interval is not None and max_interval < base:
        max_interval = base
    policy = RetryPolicy.of(RetryPolicyConfig(backoff=BackoffConfig(base_interval=base, max_interval=max_interval)),
                            idempotent=True)  # fmt: skip
    cap = min(max_interval if max_interval is not None else 10 * base, base * 2.0**n)
    wait = policy.backoff(n, lambda: r)
    assert 0.0 <= wait <= cap
    assert wait == pytest.approx(r * cap)


def test_backoff_spreads_uniformly():
    policy = RetryPolicy.of(RetryPolicyConfig(), idempotent=True)
    rnd = random.Random(2).random
    waits = [policy.backoff(1, rnd) for _ in range(4000)]
    assert max(waits) < 0.05 and min(waits) >= 0.0
    assert abs(sum(waits) / len(waits) - 0.025) < 0.0015  # mean of U[0, 50ms) within ~4 sigma


def test_wait_honours_retry_after_when_longer():
    policy = RetryPolicy.of(RetryPolicyConfig(), idempotent=True)
    rnd = random.Random(3).random
    assert policy.wait(0, FAILURES["429"], rnd) == 2.0
    assert policy.wait(0, FAILURES["503"], lambda: 0.5) == pytest.approx(0.0125)
    short = BackendUnavailable(B, "503", status=503, retry_after=0.001)
    assert policy.wait(3, short, lambda: 0.5) == pytest.approx(0.1)
    assert policy.wait(0, None, lambda: 0.5) == pytest.approx(0.0125)
