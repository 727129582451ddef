"""Observed canary split vs configured weights: Wilson intervals, chi-square, weights from config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from isthmus.config import load_config
from isthmus.loadtest.split import (
    SplitError,
    check_split,
    chi2_sf,
    parse_weights,
    weights_from_config,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("x", "df", "p"),
    [  # critical values from standard chi-square tables
        (3.841459, 1, 0.05), (6.634897, 1, 0.01), (10.827566, 1, 0.001),
        (5.991465, 2, 0.05), (7.814728, 3, 0.05), (11.070498, 5, 0.05),
        (23.209251, 10, 0.01), (2.558212, 10, 0.99), (50.892181, 30, 0.01), (0.454936, 1, 0.5),
    ],
)
def test_chi2_sf_table_values(x: float, df: int, p: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(p, rel=1e-5)


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.0, 20.0, 80.0])
def test_chi2_sf_closed_forms(x: float) -> None:
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)
    assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-9)


def test_chi2_sf_edges() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert 0.0 <= chi2_sf(1e4, 3) < 1e-100
    with pytest.raises(ValueError):
        chi2_sf(1.0, 0)


def test_wilson_known_values() -> None:
    assert wilson_interval(5, 10, 0.95) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    low, high = wilson_interval(0, 10, 0.95)
    assert low == 0.0 and high == pytest.approx(0.277532, abs=1e-6)
    assert wilson_interval(0, 0, 0.99) == (0.0, 1.0)
    w95, w99 = wilson_interval(100, 1000, 0.95), wilson_interval(100, 1000, 0.99)
    assert w99[0] < w95[0] < 0.1 < w95[1] < w99[1]


def test_parse_weights() -> None:
    assert parse_weights("a=90,b=10") == {"a": 90.0, "b": 10.0}
    assert parse_weights(" fraud-v1 = 9 , fraud.v2=1 ") == {"fraud-v1": 9.0, "fraud.v2": 1.0}
    for bad in ("a", "a=x", "a=1,a=2", "a=0,b=0", ""):
        with pytest.raises(SplitError):
            parse_weights(bad)


def test_matching_split_is_consistent() -> None:
    res = check_split({"v1": 9_010, "v2": 990}, {"v1": 90, "v2": 10})
    assert res.total == 10_000 and res.df == 1 and res.consistent and not res.small_sample
    v1, v2 = res.variants
    assert v2.observed_share == pytest.approx(0.099) and v2.inside and v1.inside
    assert v2.ci_low < 0.1 < v2.ci_high
    assert res.chi_square == pytest.approx(10**2 / 9000 + 10**2 / 1000)
    assert res.p_value > 0.01


def test_skewed_split_is_flagged() -> None:
    res = check_split({"v1": 8_500, "v2": 1_500}, {"v1": 90, "v2": 10})
    assert not res.consistent and res.p_value < 1e-10
    assert not any(v.inside for v in res.variants)


def test_three_way_and_unexpected_backends() -> None:
    res = check_split({"a": 500, "b": 300, "c": 200, "fallback": 7, "-": 3}, {"a": 5, "b": 3, "c": 2})
    assert res.df == 2 and res.chi_square == 0 and res.p_value == 1.0 and res.consistent
    assert res.unexpected == {"-": 3, "fallback": 7}
    assert res.total == 1000


def test_zero_weight_variant_reached_is_inconsistent() -> None:
    res = check_split({"a": 1000, "shadow": 4}, {"a": 1, "shadow": 0})
    assert res.p_value is None and res.df == 0 and not res.consistent
    assert not res.variants[1].inside
    assert check_split({"a": 1000}, {"a": 1, "shadow": 0}).consistent


def test_no_traffic_and_small_samples() -> None:
    empty = check_split({}, {"a": 1, "b": 1})
    assert not empty.consistent and empty.variants[0].observed_share is None
    assert check_split({"a": 9, "b": 1}, {"a": 90, "b": 10}).small_sample
    with pytest.raises(SplitError):
        check_split({"a": 1}, {"a": 1}, confidence=1.0)


def test_weights_from_config_file(tmp_path: Path) -> None:
    path = tmp_path / "traffic.yaml"
    path.write_text(
        """
backends:
  - {name: fraud-v1, protocol: kserve-v2, endpoints: [http://v1.example]}
  - {name: fraud-v2, protocol: kserve-v2, endpoints: [http://v2.example]}
routes:
  - model: fraud
    variants:
      - {backend: fraud-v1, weight: 90}
      - {backend: fraud-v2, weight: 10}
  - model: other
    variants:
      - {backend: fraud-v1, weight: 1}
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert weights_from_config(config, "fraud") == {"fraud-v1": 90, "fraud-v2": 10}
    with pytest.raises(SplitError, match="name the model"):
        weights_from_config(config)
    with pytest.raises(SplitError, match="no route"):
        weights_from_config(config, "nope")
