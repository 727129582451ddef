import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.config.resilience import CircuitBreakersConfig, RetryBudgetConfig
from isthmus.upstream.breakers import Breakers


def test_requests_in_flight_are_bounded_and_overflows_counted():
    b = Breakers(CircuitBreakersConfig(max_requests=2))
    assert b.try_request() and b.try_request()
    assert not b.try_request() and not b.try_request()
    assert b.requests == 2 and b.overflows == {"requests": 2, "retries": 0}
    b.done_request()
    assert b.try_request() and b.requests == 2


def test_without_a_budget_max_retries_bounds_retries_in_flight():
    b = Breakers(CircuitBreakersConfig(max_retries=2, retry_budget=None))
    assert b.try_retry() and b.try_retry() and not b.try_retry()
    assert b.retries == 2 and b.overflows["retries"] == 1
    b.done_retry()
    assert b.try_retry()


def test_the_budget_never_goes_below_min_retry_concurrency():
    b = Breakers(CircuitBreakersConfig(retry_budget=RetryBudgetConfig(budget_percent=20.0, min_retry_concurrency=3)))
    assert b.requests == 0 and b.retry_limit() == 3
    assert [b.try_retry() for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(
    "requests, percent, least, limit",
    [(100, 20.0, 3, 20), (14, 20.0, 3, 3), (19, 20.0, 0, 3), (10, 25.0, 0, 2), (1000, 0.0, 5, 5), (7, 100.0, 0, 7)],
)
def test_budget_arithmetic(requests, percent, least, limit):
    b = Breakers(
        CircuitBreakersConfig(max_requests=2000, retry_budget=RetryBudgetConfig(budget_percent=percent,
                                                                                 min_retry_concurrency=least))
    )  # fmt: skip
    for _ in range(requests):
        assert b.try_request()
    assert b.retry_limit() == limit
    admitted = 0
    while b.try_retry():
        admitted += 1
    assert admitted == limit and b.retries == limit and b.overflows["retries"] == 1


@given(st.integers(0, 500), st.floats(0.0, 100.0), st.integers(0, 20), st.integers(0, 600))
def test_retries_in_flight_never_exceed_the_budget(requests, percent, least, attempts):
    b = Breakers(CircuitBreakersConfig(max_requests=500, retry_budget=RetryBudgetConfig(
        budget_percent=percent, min_retry_concurrency=least)))  # fmt: skip
    for _ in range(requests):
        b.try_request()
    admitted = sum(b.try_retry() for _ in range(attempts))
    assert admitted == min(attempts, max(least, int(percent / 100.0 * requests)))  # as Envoy computes it
    assert admitted + b.overflows["retries"] == attempts
