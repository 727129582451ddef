import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.config.resilience import FailurePercentageConfig, OutlierDetectionConfig, SuccessRateConfig
from isthmus.upstream.hosts import EndpointSet
from isthmus.upstream.outcome import Outcome
from isthmus.upstream.outlier import OutlierDetector

S, E5, GW, CF, RS, TO, LO = (
    Outcome.SUCCESS, Outcome.ERROR_5XX, Outcome.GATEWAY_ERROR, Outcome.CONNECT_FAILURE, Outcome.RESET,
    Outcome.TIMEOUT, Outcome.LOCAL,
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def detector(n=10, rnd=None, **fields):
    fields.setdefault("success_rate", None)
    config = OutlierDetectionConfig(**fields)
    hosts = EndpointSet([f"http://e{i}" for i in range(n)], [1] * n, 0.0)
    clock = Clock()
    return OutlierDetector(config, hosts, clock, rnd or random.Random(1).random), hosts, clock


def fail(d, i, outcome, times):
    return [d.record(i, outcome) for _ in range(times)]


# --- consecutive failures


def test_consecutive_gateway_failures_eject_at_the_threshold():
    d, hosts, _ = detector(consecutive_gateway_failure=3, consecutive_5xx=10)
    assert fail(d, 0, CF, 3) == [None, None, "consecutive_gateway_failure"]
    assert hosts.ejected[0] and 0 not in hosts.usable
    assert d.ejections(0) == 1 and d.times_ejected(0) == 1


@pytest.mark.parametrize("outcome", [GW, CF, RS, TO])
def test_every_gateway_failure_kind_counts(outcome):
    d, hosts, _ = detector(consecutive_gateway_failure=2)
    assert fail(d, 1, outcome, 2)[-1] == "consecutive_gateway_failure"


def test_plain_5xx_ejects_by_consecutive_5xx_and_breaks_the_gateway_streak():
    d, hosts, _ = detector(consecutive_gateway_failure=3, consecutive_5xx=4)
    assert fail(d, 0, GW, 2) == [None, None]
    assert d.record(0, E5) is None  # gateway streak broken, 5xx streak at 3
    assert d.record(0, GW) == "consecutive_5xx"  # every failure is a 5xx: 4 in a row


def test_a_success_resets_both_streaks():
    d, hosts, _ = detector(consecutive_gateway_failure=3, consecutive_5xx=3)
    fail(d, 0, CF, 2)
    d.record(0, S)
    assert fail(d, 0, CF, 2) == [None, None] and not hosts.ejected[0]
    assert d.record(0, CF) == "consecutive_gateway_failure"


def test_success_is_zero_so_a_plain_int_counts_too():
    assert Outcome.SUCCESS == 0  # record()'s hot path tests truthiness
    d, hosts, _ = detector(consecutive_gateway_failure=2)
    d.record(0, CF)
    d.record(0, 0)
    assert d.record(0, CF) is None and not hosts.ejected[0]


def test_local_outcomes_say_nothing_of_the_endpoint():
    d, hosts, _ = detector(consecutive_gateway_failure=2)
    d.record(0, CF)
    fail(d, 0, LO, 5)
    assert d.record(0, CF) == "consecutive_gateway_failure"  # LOCAL neither counted nor reset the streak


def test_disabled_detection_never_ejects():
    d, hosts, _ = detector(enabled=False, consecutive_gateway_failure=1)
    assert fail(d, 0, CF, 10) == [None] * 10 and not any(hosts.ejected)
    assert d.review() == []


# --- max ejection percent


def test_max_ejection_percent_always_lets_one_endpoint_go():
    d, hosts, _ = detector(n=3, consecutive_gateway_failure=1, max_ejection_percent=10.0)
    assert d.record(0, CF) == "consecutive_gateway_failure"
    assert d.record(1, CF) is None and not hosts.ejected[1]  # 2 of 3 > 10 %
    assert d.overflows == 1


def test_endpoints_ejected_before_count_toward_the_maximum():
    d, hosts, _ = detector(n=3, consecutive_gateway_failure=1, max_ejection_percent=10.0)
    hosts.set_ejected(2, True)  # e.g. state carried over from the previous config
    assert d.record(0, CF) is None and d.overflows == 1


def test_max_ejection_percent_bounds_ejections_at_once():
    d, hosts, _ = detector(n=10, consecutive_gateway_failure=1, max_ejection_percent=30.0)
    for i in range(10):
        d.record(i, CF)
    assert sum(hosts.ejected) == 3 and d.overflows == 7


def test_a_refused_ejection_restarts_the_streak():
    d, hosts, _ = detector(n=2, consecutive_gateway_failure=2, consecutive_5xx=100, max_ejection_percent=10.0)
    fail(d, 0, CF, 2)
    assert fail(d, 1, CF, 2)[-1] is None  # refused
    assert d.record(1, CF) is None  # streak restarted: one more is not enough
    d.returned(0)
    assert d.record(1, CF) == "consecutive_gateway_failure"


# --- ejection time, returns, decay


def test_ejection_time_grows_with_the_count_up_to_the_maximum():
    d, hosts, clock = detector(
        n=2, consecutive_gateway_failure=1, interval=10.0, base_ejection_time=30.0, max_ejection_time=100.0
    )
    times = []
    for _ in range(5):
        assert d.record(0, CF) == "consecutive_gateway_failure"
        ejected_at = clock.now
        while hosts.ejected[0]:
            clock.now += 10.0
            d.review()
        times.append(clock.now - ejected_at)
    assert times == [30.0, 60.0, 90.0, 100.0, 100.0]
    assert d.ejections(0) == 5  # grows while base x count < max + base (Envoy's rule), then stays
    d.record(0, CF)
    assert d.ejections(0) == 5 and d.ejection_time(0) == 100.0


def test_review_returns_an_endpoint_when_its_time_is_up():
    d, hosts, clock = detector(consecutive_gateway_failure=1, base_ejection_time=30.0)
    d.record(3, CF)
    clock.now += 29.0
    assert d.review() == [] and hosts.ejected[3]
    clock.now += 1.0
    assert d.review() == [(3, "returned")] and not hosts.ejected[3] and 3 in hosts.usable


def test_returned_endpoints_start_with_fresh_streaks():
    d, hosts, clock = detector(consecutive_gateway_failure=3, consecutive_5xx=3, base_ejection_time=30.0)
    fail(d, 0, CF, 3)
    fail(d, 0, CF, 2)  # while ejected (panic traffic): counted, ignored
    assert d.returned(0) is True and d.returned(0) is False
    assert fail(d, 0, CF, 2) == [None, None]
    assert d.record(0, CF) == "consecutive_gateway_failure"


def test_the_ejection_count_decays_one_per_interval_after_the_return():
    d, hosts, clock = detector(consecutive_gateway_failure=1, interval=10.0, base_ejection_time=10.0,
                               max_ejection_time=1000.0)  # fmt: skip
    for _ in range(3):
        d.record(0, CF)
        d.returned(0)
    assert d.ejections(0) == 3
    d.review()  # returned less than an interval ago: no decay yet
    assert d.ejections(0) == 3
    for expected in (2, 1, 0, 0):
        clock.now += 10.0
        d.review()
        assert d.ejections(0) == expected
    d.record(0, CF)
    assert d.ejection_time(0) == 10.0  # decayed back to the base time


def test_no_decay_while_ejected():
    d, hosts, clock = detector(consecutive_gateway_failure=1, interval=10.0, base_ejection_time=100.0,
                               max_ejection_time=1000.0)  # fmt: skip
    d.record(0, CF)
    for _ in range(5):
        clock.now += 10.0
        d.review()
    assert hosts.ejected[0] and d.ejections(0) == 1


# --- success rate


def traffic(d, rates, volume):
    """``volume`` requests on each endpoint with the given success rates."""
    for i, rate in enumerate(rates):
        ok = round(volume * rate)
        for k in range(volume):
            d.record(i, S if k < ok else E5)


def test_success_rate_ejects_the_endpoint_far_below_the_others():
    sr = SuccessRateConfig(minimum_hosts=5, request_volume=100, stdev_factor=1.9)
    d, hosts, _ = detector(n=6, success_rate=sr, consecutive_5xx=1000, max_ejection_percent=50.0)
    traffic(d, [1.0, 0.99, 1.0, 0.98, 1.0, 0.5], 100)
    assert d.review() == [(5, "success_rate")]
    assert hosts.ejected == [False] * 5 + [True]


def test_success_rate_follows_envoys_worked_example():
    # Envoy's comment: rates 50, 100, 100, 100, 100 -> mean 90, stdev 20, threshold 90 - f x 20
    sr = SuccessRateConfig(minimum_hosts=5, request_volume=10, stdev_factor=1.9)
    d, hosts, _ = detector(n=5, success_rate=sr, consecutive_5xx=1000, max_ejection_percent=100.0)
    traffic(d, [0.5, 1, 1, 1, 1], 10)
    assert d.review() == [(0, "success_rate")]  # 50 < 52
    sr = SuccessRateConfig(minimum_hosts=5, request_volume=10, stdev_factor=2.1)
    d, hosts, _ = detector(n=5, success_rate=sr, consecutive_5xx=1000, max_ejection_percent=100.0)
    traffic(d, [0.5, 1, 1, 1, 1], 10)
    assert d.review() == []  # 50 > 48


def test_success_rate_needs_enough_hosts_with_enough_requests():
    sr = SuccessRateConfig(minimum_hosts=5, request_volume=100)
    d, hosts, _ = detector(n=6, success_rate=sr, consecutive_5xx=1000, max_ejection_percent=50.0)
    traffic(d, [1.0, 1.0, 1.0, 1.0, 0.0, 0.2], 99)  # one short of the volume
    assert d.review() == []
    traffic(d, [1.0, 1.0, 1.0, 0.0], 100)  # counts were reset: only 4 hosts qualify
    assert d.review() == []


def test_success_rate_enforcement_is_drawn():
    sr = SuccessRateConfig(minimum_hosts=5, request_volume=10, enforcing=30.0)
    ejected = 0
    draws = random.Random(4)
    for _ in range(200):
        d, hosts, _ = detector(n=5, rnd=draws.random, success_rate=sr, consecutive_5xx=1000,
                               max_ejection_percent=100.0)  # fmt: skip
        traffic(d, [0.0, 1, 1, 1, 1], 10)
        ejected += bool(d.review())
    assert 40 <= ejected <= 80  # 30 % of 200, within about 3.5 sigma


# --- failure percentage


def test_failure_percentage_ejects_at_the_threshold():
    fp = FailurePercentageConfig(threshold=50.0, minimum_hosts=3, request_volume=20)
    d, hosts, _ = detector(n=4, failure_percentage=fp, consecutive_5xx=1000, max_ejection_percent=100.0)
    traffic(d, [1.0, 0.5, 0.55, 0.0], 20)  # failures: 0 %, 50 %, 45 %, 100 %
    changes = d.review()
    assert sorted(changes) == [(1, "failure_percentage"), (3, "failure_percentage")]


def test_failure_percentage_needs_minimum_hosts_and_volume():
    fp = FailurePercentageConfig(threshold=50.0, minimum_hosts=3, request_volume=20)
    d, hosts, _ = detector(n=4, failure_percentage=fp, consecutive_5xx=1000, max_ejection_percent=100.0)
    traffic(d, [1.0, 0.0], 20)
    traffic(d, [1.0, 1.0, 1.0, 0.0], 19)
    assert d.review() == []


def test_failure_percentage_enforcing_zero_detects_but_never_ejects():
    fp = FailurePercentageConfig(threshold=50.0, minimum_hosts=1, request_volume=1, enforcing=0.0)
    d, hosts, _ = detector(n=2, failure_percentage=fp, consecutive_5xx=1000, max_ejection_percent=100.0)
    traffic(d, [0.0, 0.0], 10)
    assert d.review() == [] and not any(hosts.ejected)


def test_interval_counts_are_reset_by_each_review():
    fp = FailurePercentageConfig(threshold=50.0, minimum_hosts=1, request_volume=10)
    d, hosts, _ = detector(n=2, failure_percentage=fp, consecutive_5xx=1000, max_ejection_percent=100.0)
    traffic(d, [1.0, 1.0], 10)
    d.review()
    traffic(d, [0.0, 1.0], 10)  # this interval alone: 100 % failures
    assert d.review() == [(0, "failure_percentage")]


@given(st.lists(st.tuples(st.integers(0, 7), st.sampled_from(list(Outcome)), st.booleans()), max_size=200),
       st.floats(0.0, 100.0))  # fmt: skip
def test_ejected_endpoints_stay_within_max_percent_or_one(events, max_percent):
    d, hosts, clock = detector(n=8, consecutive_gateway_failure=2, consecutive_5xx=3, max_ejection_percent=max_percent,
                               interval=1.0, base_ejection_time=2.0, max_ejection_time=5.0)  # fmt: skip
    for i, outcome, tick in events:
        d.record(i, outcome)
        if tick:
            clock.now += 1.0
            d.review()
        ejected = sum(hosts.ejected)
        assert ejected <= max(1, int(max_percent * 8 / 100 + 1e-9))
        assert 0 <= d.ejections(i) <= 4  # grows only while base x count < max + base
