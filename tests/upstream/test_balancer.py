import math
import random
from collections import Counter
from math import gcd

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.config.resilience import LoadBalancerConfig
from isthmus.upstream.balancer import MAX_SCHEDULE, LeastRequest, RoundRobin, balancer_for, smooth_schedule
from isthmus.upstream.hosts import EndpointSet


def hosts(weights, panic: float = 50.0) -> EndpointSet:
    return EndpointSet([f"http://e{i}" for i in range(len(weights))], weights, panic)


def test_balancer_for_follows_the_policy():
    rnd = random.Random(1).random
    assert isinstance(balancer_for(LoadBalancerConfig(), rnd), RoundRobin)
    lr = balancer_for(LoadBalancerConfig(policy="least_request", choice_count=3), rnd)
    assert isinstance(lr, LeastRequest) and lr.choice_count == 3


# --- round robin


def test_smooth_schedule_spreads_the_heavy_endpoint_as_nginx_does():
    # nginx's documented sequence for weights a=5, b=1, c=1
    assert smooth_schedule((0, 1, 2), [5, 1, 1]) == (0, 0, 1, 0, 2, 0, 0)


def test_round_robin_cycles_equal_endpoints_in_order():
    h = hosts([1, 1, 1])
    rr = RoundRobin()
    assert [rr.pick(h) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_round_robin_starts_at_a_random_position():
    h = hosts([1, 1, 1, 1])
    starts = {RoundRobin(random.Random(seed).random).pick(h) for seed in range(40)}
    assert starts == {0, 1, 2, 3}


@given(st.lists(st.integers(1, 20), min_size=1, max_size=6), st.integers(0, 10_000))
def test_round_robin_gives_each_endpoint_its_weight_in_every_period(weights, seed):
    h = hosts(weights)
    rr = RoundRobin(random.Random(seed).random)
    g = 0
    for w in weights:
        g = gcd(g, w)
    period = sum(w // g for w in weights)
    for _ in range(2):
        counts = Counter(rr.pick(h) for _ in range(period))
        assert [counts[i] for i in range(len(weights))] == [w // g for w in weights]


def test_round_robin_skips_what_is_not_usable_and_sees_it_come_back():
    h = hosts([1, 1, 1])
    rr = RoundRobin()
    rr.pick(h)
    h.set_ejected(1, True)
    assert {rr.pick(h) for _ in range(10)} == {0, 2}
    h.set_ejected(1, False)
    assert {rr.pick(h) for _ in range(10)} == {0, 1, 2}


def test_round_robin_weights_huge_sums_are_scaled_to_a_bounded_schedule():
    weights = [1000, 999, 1] + [997] * 7
    h = hosts(weights)
    rr = RoundRobin()
    rr.pick(h)
    assert rr._size <= MAX_SCHEDULE + len(weights)
    counts = Counter(rr.pick(h) for _ in range(rr._size))
    total = sum(weights)
    for i, w in enumerate(weights):  # within one slot and a half of the exact share
        assert abs(counts[i] / rr._size - w / total) <= 1.5 / rr._size + 1e-9, (i, counts[i])
    assert counts[2] >= 1  # a weight-1 endpoint still gets its turn


@pytest.mark.parametrize("balancer", [RoundRobin(), LeastRequest(2, random.Random(7).random)])
def test_tried_endpoints_are_avoided_while_another_is_usable(balancer):
    h = hosts([1, 1, 1])
    for _ in range(30):
        assert balancer.pick(h, 1) != 1
        assert balancer.pick(h, frozenset({0, 2})) == 1
    assert balancer.pick(h, frozenset({0, 1, 2})) in (0, 1, 2)  # all tried: still an answer
    h.set_ejected(0, True)
    h.set_ejected(2, True)  # panic: all usable again
    assert balancer.pick(h, frozenset({0, 2})) == 1


@pytest.mark.parametrize("balancer", [RoundRobin(), LeastRequest(2, random.Random(7).random)])
def test_nothing_usable_without_panic_is_minus_one(balancer):
    h = hosts([1, 1], panic=0.0)
    h.set_ejected(0, True)
    h.set_healthy(1, False)
    assert balancer.pick(h) == -1 and balancer.pick(h, 0) == -1


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=6),
    st.lists(st.booleans(), min_size=6, max_size=6),
    st.frozensets(st.integers(0, 5)),
    st.sampled_from(["round_robin", "least_request"]),
    st.integers(0, 1000),
    st.integers(2, 4),
)
def test_a_pick_is_usable_and_untried_when_it_can_be(weights, ejected, tried, policy, seed, choices):
    h = hosts(weights, panic=0.0)
    for i in range(len(weights)):
        h.set_ejected(i, ejected[i])
    b = balancer_for(LoadBalancerConfig(policy=policy, choice_count=choices), random.Random(seed).random)
    for _ in range(5):
        i = b.pick(h, tried)
        if not h.usable:
            assert i == -1
        elif set(h.usable) - tried:
            assert i in h.usable and i not in tried
        else:
            assert i in h.usable


# --- least request


def test_least_request_prefers_the_less_loaded_of_its_two_choices():
    h = hosts([1, 1, 1])
    h.in_flight[:] = [5, 0, 5]
    # equal weights: one draw r in [0, 1) picks endpoints int(9r) // 3 and int(9r) % 3
    draws = iter([0.15, 0.7])  # endpoints 0 then 1; then 2 then 0
    lr = LeastRequest(2, lambda: next(draws))
    assert lr.pick(h) == 1
    assert lr.pick(h) == 2  # a tie keeps the first drawn


def test_least_request_picks_the_least_loaded_share_as_p2c_predicts():
    # one idle endpoint among three loaded ones: it loses only when neither draw is it
    h = hosts([1, 1, 1, 1])
    h.in_flight[:] = [9, 9, 0, 9]
    lr = LeastRequest(2, random.Random(3).random)
    n = 4000
    k = sum(lr.pick(h) == 2 for _ in range(n))
    p = 1 - (3 / 4) ** 2
    assert abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)), k


@pytest.mark.parametrize("choices", [3, 4])
def test_more_choices_find_the_idle_endpoint_more_often(choices):
    h = hosts([1, 1, 1, 1])
    h.in_flight[:] = [5, 5, 5, 0]
    lr = LeastRequest(choices, random.Random(8).random)
    n = 4000
    k = sum(lr.pick(h) == 3 for _ in range(n))
    p = 1 - (3 / 4) ** choices
    assert abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)), k


def test_least_request_keeps_in_flight_balanced():
    h = hosts([1] * 5)
    lr = LeastRequest(2, random.Random(11).random)
    for _ in range(5000):
        h.in_flight[lr.pick(h)] += 1
    assert max(h.in_flight) - min(h.in_flight) <= 6, h.in_flight


@pytest.mark.parametrize("weights", [[3, 1], [1, 2, 5]])
def test_least_request_spreads_requests_in_flight_by_weight(weights):
    h = hosts(weights)
    lr = LeastRequest(2, random.Random(5).random)
    for _ in range(6000):
        h.in_flight[lr.pick(h)] += 1
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(h.in_flight[i] / 6000 - w / total) < 0.05, h.in_flight


def test_least_request_idle_shares_follow_the_weights():
    weights = [1, 2, 5]
    h = hosts(weights)
    lr = LeastRequest(2, random.Random(9).random)
    n = 8000
    counts = Counter(lr.pick(h) for _ in range(n))  # nothing stays in flight
    for i, w in enumerate(weights):
        p = w / sum(weights)
        assert abs(counts[i] - n * p) <= 4 * math.sqrt(n * p * (1 - p)), counts


def test_least_request_needs_two_choices():
    with pytest.raises(ValueError):
        LeastRequest(1, random.random)
