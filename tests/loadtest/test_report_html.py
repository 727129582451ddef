"""The HTML page: self-contained, with every plot embedded as a decodable PNG."""

from __future__ import annotations

import base64
import io
import re

from matplotlib.image import imread

from isthmus.loadtest.report_html import render_html, render_plots
from isthmus.loadtest.report_json import build_report
from isthmus.loadtest.results import RunResult
from tests.loadtest.test_report_json import (
    synthetic_capacity,
    synthetic_run,
    synthetic_split,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def _full_report() -> dict:
    run = synthetic_run()
    return build_report(run, capacity=synthetic_capacity(), split=synthetic_split(run))


def test_page_embeds_all_four_plots_as_png() -> None:
    page = render_html(_full_report())
    images = DATA_URI.findall(page)
    assert [alt for alt, _ in images] == ["Latency percentiles over time", "Throughput: target vs achieved",
                                         "Latency by variant", "Latency vs rate"]
    for _, data in images:
        png = base64.b64decode(data, validate=True)
        assert png.startswith(PNG_MAGIC)
        pixels = imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 800
        assert pixels.std() > 0.05  # not a blank canvas


def test_page_is_self_contained_and_escaped() -> None:
    run = synthetic_run(5)
    run.target = "http://x/<script>alert(1)</script>"
    page = render_html(build_report(run))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from anywhere
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_tables_show_capacity_split_and_errors() -> None:
    page = render_html(_full_report())
    assert re.search(r"<b>\d{3},?\d* requests/s</b>, bound by <b>latency p99</b>", page)
    assert "consistent with the configured weights" in page and "99% CI" in page
    assert "http_503" in page and "timeout" in page


def test_plots_only_with_data() -> None:
    empty = build_report(RunResult(target="t", profile={}, started_at=0.0, duration_s=0.0))
    assert render_plots(empty) == {}
    assert "<img" not in render_html(empty)
    assert set(render_plots(build_report(synthetic_run(5)))) == {"latency", "throughput", "variants"}


def test_target_curve_from_profile_segments() -> None:
    from isthmus.loadtest.report_html import _target_curve

    assert _target_curve({"segments": [[50, 400, 20], [400, 400, 10]]}) == ([0.0, 20, 20, 30], [50, 400, 400, 400])
    for other in ({}, {"rate": 100}, {"segments": [[1, 2]]}, {"segments": "x"}, None):
        assert _target_curve(other) is None
