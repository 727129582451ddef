import math
import random

import pytest

from isthmus.router.weighted import WeightedChoice


def test_pick_is_a_pure_function_of_r():
    c = WeightedChoice([80, 20])
    assert [c.pick(r) for r in (0.0, 0.5, 0.7999, 0.8, 0.9999)] == [0, 0, 0, 1, 1]


def test_zero_weights_are_never_picked():
    c = WeightedChoice([0, 5, 0, 5, 0])
    assert {c.pick(i / 1000) for i in range(1000)} == {1, 3}


def test_invalid_weights():
    with pytest.raises(ValueError):
        WeightedChoice([0, 0])
    with pytest.raises(ValueError):
        WeightedChoice([1, -1])


@pytest.mark.parametrize("weights", [[80, 20], [50, 30, 20], [1, 1, 1, 7]])
def test_split_within_four_sigma(weights):
    rng = random.Random(1234)
    c = WeightedChoice(weights)
    n = 4000
    counts = [0] * len(weights)
    for _ in range(n):
        counts[c.pick(rng.random())] += 1
    total = sum(weights)
    for w, k in zip(weights, counts):
        p = w / total
        assert abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)), (weights, counts)
