"""The terminal summary: plain text off a TTY, rich tables on one, the same facts in both."""

from __future__ import annotations

import io

from isthmus.loadtest.report_json import build_report
from isthmus.loadtest.results import RunResult
from isthmus.loadtest.split import check_split
from isthmus.loadtest.summary import print_summary, summary_text
from tests.loadtest.test_report_json import (
    synthetic_capacity,
    synthetic_run,
    synthetic_split,
)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _full_report() -> dict:
    run = synthetic_run()
    return build_report(run, capacity=synthetic_capacity(), split=synthetic_split(run))


def test_plain_text_has_the_numbers() -> None:
    doc = _full_report()
    text = summary_text(doc)
    assert "200/s" in text and "6,000" in text and "5,940" in text and "1.00%" in text
    assert "http_503" in text and "timeout" in text
    lat = doc["latency_ms"]
    assert f"{lat['p99']:.3g}" in text
    v2 = next(line for line in text.splitlines() if line.strip().startswith("demo-v2"))
    assert "10.00%" in v2 and "yes" in v2  # configured share and inside-the-CI
    assert "split consistent with the configured weights" in text and "99% CI" in text
    cap = doc["capacity"]["capacity_rps"]
    assert f"capacity {cap:,.0f} requests/s" in text and "bound by latency p99" in text
    assert "\x1b[" not in text


def test_skewed_split_and_failed_search_are_loud() -> None:
    run = synthetic_run(5)
    doc = build_report(run, split=check_split({"demo-v1": 800, "demo-v2": 200, "fallback": 3},
                                              {"demo-v1": 90, "demo-v2": 10}))
    doc["capacity"] = {**build_report(run, capacity=synthetic_capacity())["capacity"], "capacity_rps": None,
                       "converged": False}
    text = summary_text(doc)
    assert "DIFFERS FROM" in text and "NO" in text and "fallback (3)" in text
    assert "no tested rate met the SLO" in text and "did not converge" in text


def test_print_summary_picks_the_form_by_tty() -> None:
    doc = _full_report()
    plain, tty = io.StringIO(), FakeTTY()
    print_summary(doc, plain)
    print_summary(doc, tty)
    assert plain.getvalue() == summary_text(doc)
    assert "┃" in tty.getvalue() or "|" in tty.getvalue()
    assert tty.getvalue() != plain.getvalue() and "bound by latency p99" in tty.getvalue().replace("\n", " ")


def test_empty_run_does_not_crash() -> None:
    text = summary_text(build_report(RunResult(target="t", profile={}, started_at=0.0, duration_s=0.0)))
    assert "Latency (ms)" in text and "Variants" not in text and "Capacity" not in text
