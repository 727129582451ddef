"""TF Serving version labels on a route: a version, or a variant's name (a canary), else refused."""

import pytest

from isthmus.router import Route, UnknownLabel, UnknownVariant, Variant


def route() -> Route:
    return Route("m", (Variant("m-v1", 90, "1"), Variant("m-canary", 10, "2"), Variant("m-shadow", 0, None)))


def test_a_label_is_a_version_or_a_variant():
    r = route()
    assert r.resolve_label("2") == ("2", None)
    assert r.resolve_label("m-canary") == (None, "m-canary")
    assert r.resolve_label("m-shadow") == (None, "m-shadow")  # no weight: reachable only by name
    with pytest.raises(UnknownLabel, match="no version label 'stable' .*1, 2, m-v1, m-canary, m-shadow"):
        r.resolve_label("stable")


def test_pin_picks_the_named_variant_whatever_the_weights():
    r = route()
    decision = r.pin("m-shadow")
    assert (decision.backend, decision.reason) == ("m-shadow", "override")
    assert r.pin("m-canary", "2").version == "2"
    with pytest.raises(UnknownVariant, match="is version '1', not '2'"):
        r.pin("m-v1", "2")
