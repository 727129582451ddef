import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.upstream.hosts import EndpointSet


def hosts(n: int, panic: float = 50.0) -> EndpointSet:
    return EndpointSet([f"http://e{i}" for i in range(n)], [1] * n, panic)


def test_starts_with_every_endpoint_usable():
    h = hosts(3)
    assert h.usable == (0, 1, 2) and not h.panic and not h.no_usable
    assert h.in_flight == [0, 0, 0] and h.healthy == [True] * 3 and h.ejected == [False] * 3


def test_set_reports_a_change_only_once_and_recomputes_usable():
    h = hosts(4)
    assert h.set_ejected(1, True) is True
    assert h.set_ejected(1, True) is False
    assert h.usable == (0, 2, 3)
    assert h.set_healthy(3, False) is True and h.set_healthy(3, False) is False
    assert h.usable == (0, 2) and not h.panic  # 50 % usable is not below 50 %
    assert h.set_ejected(1, False) is True and h.usable == (0, 2, 1)[:0] + (0, 1, 2)


def test_an_endpoint_both_unhealthy_and_ejected_comes_back_only_when_both_clear():
    h = hosts(4, panic=0.0)
    h.set_healthy(2, False)
    h.set_ejected(2, True)
    h.set_ejected(2, False)
    assert 2 not in h.usable
    h.set_healthy(2, True)
    assert h.usable == (0, 1, 2, 3)


def test_below_the_panic_threshold_every_endpoint_is_usable_again():
    h = hosts(4)
    h.set_ejected(0, True)
    h.set_healthy(1, False)
    assert h.usable == (2, 3) and not h.panic
    h.set_ejected(2, True)  # 1 of 4 usable: 25 % < 50 %
    assert h.panic and h.usable == (0, 1, 2, 3) and not h.no_usable
    h.set_healthy(3, False)
    assert h.panic and h.no_usable and h.usable == (0, 1, 2, 3)
    h.set_ejected(0, False)
    h.set_ejected(2, False)
    assert not h.panic and h.usable == (0, 2)


def test_panic_threshold_zero_turns_panic_off():
    h = hosts(2, panic=0.0)
    h.set_ejected(0, True)
    h.set_ejected(1, True)
    assert not h.panic and h.no_usable and h.usable == ()


def test_usable_is_a_new_tuple_only_when_it_changed():
    h = hosts(3)
    before = h.usable
    h.set_ejected(0, False)  # no change
    assert h.usable is before
    h.set_ejected(0, True)
    assert h.usable is not before


def test_of_takes_weights_by_endpoint_name():
    h = EndpointSet.of(["http://a", "http://b", "http://c"], {"http://b": 5}, 50.0)
    assert h.weights == (1, 5, 1) and not h.equal_weights
    assert EndpointSet.of(["http://a", "http://b"], {}, 50.0).equal_weights


@pytest.mark.parametrize(
    "names, weights, panic",
    [([], [], 50.0), (["a"], [1, 2], 50.0), (["a"], [0], 50.0), (["a"], [1], 101.0)],
)
def test_invalid_sets_are_refused(names, weights, panic):
    with pytest.raises(ValueError):
        EndpointSet(names, weights, panic)


@given(
    st.integers(1, 12),
    st.floats(0.0, 100.0),
    st.lists(st.tuples(st.integers(0, 11), st.booleans(), st.booleans()), max_size=40),
)
def test_usable_panic_and_no_usable_follow_their_definitions(n, threshold, changes):
    h = hosts(n, threshold)
    for i, which, value in changes:
        i %= n
        (h.set_healthy if which else h.set_ejected)(i, value)
    up = [i for i in range(n) if h.healthy[i] and not h.ejected[i]]
    assert h.no_usable == (not up)
    assert h.panic == (threshold > 0 and len(up) * 100 < threshold * n)
    assert list(h.usable) == (list(range(n)) if h.panic else up)
