"""deploy/grafana/isthmus.json is a well-formed dashboard. (That every metric it queries is one a real
gateway exports is checked against a live scrape in tests/integration/test_admin_processes.py.)"""

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "isthmus.json"
DASH = json.loads(DASHBOARD.read_text())
PANELS = [p for p in DASH["panels"] if p["type"] != "row"]
EXPRS = [t["expr"] for p in PANELS for t in p["targets"]]


def test_identity_and_variables():
    assert DASH["uid"] == "isthmus-gateway" and DASH["schemaVersion"] >= 36
    variables = {v["name"]: v for v in DASH["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"model", "instance"} <= set(variables)


def test_every_panel_has_a_unique_id_a_title_and_queries_the_chosen_datasource():
    ids = [p["id"] for p in DASH["panels"]]
    assert len(ids) == len(set(ids))
    for p in PANELS:
        assert p["title"] and p["description"] and p["targets"], p["title"]
        assert p["datasource"]["uid"] == "${datasource}"
        assert all(t["datasource"]["uid"] == "${datasource}" and t["refId"] for t in p["targets"])


def test_panels_do_not_overlap():
    taken: set[tuple[int, int]] = set()
    for p in DASH["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, p["title"]
        taken |= cells


def test_queries_are_balanced_and_rates_use_the_rate_interval():
    for e in EXPRS:
        assert e.count("(") == e.count(")") and e.count("{") == e.count("}") and e.count("[") == e.count("]"), e
        for window in re.findall(r"\[([^\]]+)\]", e):
            assert window == "$__rate_interval", e
        assert e.count('"') % 2 == 0, e


def test_the_issues_panels_are_there():
    by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in PANELS}
    split = by_title["Traffic split per variant"]
    assert "isthmus_request_duration_seconds_count" in split and "by (model, variant)" in split
    for q in ("0.5", "0.99"):
        quantile = by_title[f"p{round(float(q) * 100)} latency by variant"]
        assert quantile.startswith(f"histogram_quantile({q}, sum by (model, variant, le)")
        assert "isthmus_request_duration_seconds_bucket" in quantile
    assert "by (status)" in by_title["Error rate by status"]
    assert "isthmus_cache_hits_total" in by_title["Cache hit ratio"]
    assert "isthmus_fallback_activations_total" in by_title["Fallback ratio"]
    assert "isthmus_requests_in_flight" in by_title["In-flight requests"]
    assert 'result' in by_title["xDS: config updates (ACK / NACK)"]
