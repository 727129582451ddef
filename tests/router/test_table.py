import pytest

from isthmus.router import (
    Route,
    RouteTable,
    UnknownModel,
    UnknownVariant,
    UnknownVersion,
    Variant,
)

ROUTE = Route(
    "fraud",
    (Variant("v1", 90, "1"), Variant("v2", 10, "2"), Variant("shadowless", 0, "2")),
    sticky_header="x-user",
    override_header="x-variant",
    fallback="local",
)


def test_weighted_decision_uses_the_injected_random():
    assert ROUTE.decide(None, {}, lambda: 0.0).backend == "v1"
    d = ROUTE.decide(None, {}, lambda: 0.95)
    assert (d.backend, d.version, d.reason, d.fallback) == ("v2", "2", "weighted", "local")


def test_override_pins_a_variant_even_with_zero_weight():
    d = ROUTE.decide(None, {"x-variant": "shadowless"}, lambda: 0.0)
    assert (d.backend, d.reason) == ("shadowless", "override")


def test_unknown_override_names_the_variants():
    with pytest.raises(UnknownVariant, match="no variant 'v9' \\(variants: v1, v2, shadowless\\)"):
        ROUTE.decide(None, {"x-variant": "v9"}, lambda: 0.0)


def test_sticky_ignores_random():
    a = ROUTE.decide(None, {"x-user": "alice"}, lambda: 0.0)
    b = ROUTE.decide(None, {"x-user": "alice"}, lambda: 0.99)
    assert a.backend == b.backend and a.reason == "sticky"


def test_version_filters_variants():
    assert ROUTE.decide("2", {}, lambda: 0.0).backend == "v2"
    with pytest.raises(UnknownVersion, match="no version '7' \\(known: 1, 2\\)"):
        ROUTE.decide("7", {}, lambda: 0.0)


def test_fallback_is_not_the_chosen_backend_itself():
    r = Route("m", (Variant("a", 1, None),), fallback="a")
    assert r.decide(None, {}, lambda: 0.5).fallback is None


def test_unknown_model():
    with pytest.raises(UnknownModel, match="unknown model 'x'"):
        RouteTable({"fraud": ROUTE}).route("x")
