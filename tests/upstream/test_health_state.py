import pytest

from isthmus.upstream.health_state import HealthState


def test_endpoints_start_healthy():
    assert HealthState(2, 3, 4).healthy == [True] * 4


def test_unhealthy_after_the_threshold_of_consecutive_failures():
    h = HealthState(healthy_threshold=2, unhealthy_threshold=3, n=2)
    assert [h.failed(0) for _ in range(3)] == [False, False, True]
    assert h.healthy == [False, True]
    assert h.failed(0) is False  # already unhealthy: no second flip


def test_a_pass_breaks_a_failure_streak():
    h = HealthState(2, 3, 1)
    h.failed(0)
    h.failed(0)
    assert h.passed(0) is False
    assert [h.failed(0) for _ in range(3)] == [False, False, True]


def test_healthy_again_after_the_threshold_of_consecutive_passes():
    h = HealthState(healthy_threshold=2, unhealthy_threshold=1, n=1)
    assert h.failed(0) is True
    assert h.passed(0) is False
    assert h.failed(0) is False  # agrees with the state: resets the pass streak
    assert [h.passed(0) for _ in range(2)] == [False, True] and h.healthy == [True]


def test_endpoints_are_independent():
    h = HealthState(1, 1, 3)
    assert h.failed(1) is True
    assert h.healthy == [True, False, True]
    assert h.passed(1) is True and h.passed(2) is False


def test_thresholds_are_at_least_one():
    with pytest.raises(ValueError):
        HealthState(0, 1, 1)
