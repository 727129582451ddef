"""The list of what Envoy / proxyless gRPC will not honour, Envoy's own answers, and where both show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from isthmus.cli import main
from isthmus.config import parse_config
from isthmus.router import RouteTable, UnknownVariant
from isthmus.xds import config_from_resources, resources_from_config, type_urls
from isthmus.xds.cli import running_control_plane
from isthmus.xds.direct import HEALTH
from isthmus.xds.envoy_parity import gaps, report
from isthmus.xds.resources import HTTP_ROUTES
from tests.xds.helpers import write


def cfg(routes: list[dict], backends: list[dict], listener: dict | None = None):
    doc = {"backends": backends, "routes": routes, **({"listener": listener} if listener else {})}
    return parse_config(yaml.safe_dump(doc), "t.yaml", Path("."))


V2 = {"name": "v2", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9001"]}
V1 = {"name": "v1", "protocol": "kserve-v1", "endpoints": ["http://127.0.0.1:9002"]}
G = {"name": "g", "protocol": "kserve-v2-grpc", "endpoints": ["grpc://127.0.0.1:9003"]}


def features(config, client="envoy"):
    return [(g.route, g.feature) for g in gaps(config, client)]


def test_a_plain_route_lists_only_the_other_dialect():
    c = cfg([{"model": "m", "variants": [{"backend": "v2", "weight": 1}]}], [V2])
    assert features(c) == [("m", "translation")]
    assert "/v1/models/m..." in gaps(c)[0].detail
    assert features(c, "grpc") == [("m", "translation"), ("m", "timeout")]


def test_each_isthmus_only_setting_is_listed_once_per_route():
    c = cfg(
        [{"model": "m", "variants": [{"backend": "v2", "weight": 9}, {"backend": "v1", "weight": 1, "version": "2"}],
          "fallback": "v2", "sticky_header": "x-user", "override_header": "x-pin",
          "cache": {"enabled": True, "coalesce": False}},
         {"model": "n", "variants": [{"backend": "g", "weight": 1}], "cache": {"enabled": True}}],
        [{**V2, "model": "real", "timeout": "2s", "endpoints": ["http://127.0.0.1:9001/prefix"]}, V1, G],
        {"grpc_address": "127.0.0.1:8081"},
    )  # fmt: skip
    assert features(c) == [
        (None, "grpc-ingress"),
        ("m", "translation"), ("m", "endpoint-path"), ("m", "answer-names"), ("m", "translation"),
        ("m", "fallback"), ("m", "cache"), ("m", "sticky-hash"), ("m", "version-labels"), ("m", "timeout"),
        ("n", "translation"), ("n", "cache"), ("n", "coalescing"),
    ]  # fmt: skip
    assert features(c, "grpc") == [
        ("m", "translation"), ("m", "translation"), ("m", "unknown-override"), ("m", "fallback"), ("m", "cache"),
        ("m", "sticky-hash"), ("m", "version-selection"), ("m", "timeout"),
        ("n", "cache"), ("n", "coalescing"), ("n", "timeout"),
    ]  # fmt: skip
    assert str(gaps(c)[5]) == "route 'm': fallback: Envoy does not retry on 'v2' when a variant fails"
    assert report(c) == {k: [g.as_dict() for g in gaps(c, k)] for k in ("envoy", "grpc")}


def test_onnx_and_grpc_rename(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.onnx").write_text("not loaded")
    onnx = {"name": "local", "protocol": "onnx", "model_path": "x.onnx"}
    c = cfg([{"model": "m", "variants": [{"backend": "local", "weight": 1}, {"backend": "g", "weight": 1}]}],
            [onnx, {**G, "model": "other", "version": "4"}])  # fmt: skip
    assert features(c) == [("m", "onnx"), ("m", "translation"), ("m", "version-labels")]
    assert "Envoy answers 503" in gaps(c)[0].detail
    assert features(c, "grpc") == [("m", "onnx"), ("m", "model-rename"), ("m", "version-selection"), ("m", "timeout")]


def test_envoy_answers_health_and_unknown_overrides_itself():
    c = cfg([{"model": "m", "variants": [{"backend": "v2", "weight": 1}, {"backend": "v1", "weight": 0}],
              "override_header": "x-pin"}], [V2, V1])  # fmt: skip
    routes = resources_from_config(c)[type_urls.ROUTE][HTTP_ROUTES].virtual_hosts[0].routes
    names = [r.name for r in routes]
    assert names == ["health/live", "health/ready", "server-metadata", "health/kserve-v1", "m/version-unknown",
                     "m/override/v2", "m/override/v1", "m/override-unknown", "m/weighted", "unknown-model"]  # fmt: skip
    for (name, path, doc), route in zip(HEALTH, routes):
        assert route.match.path == path and route.direct_response.status == 200
        assert json.loads(route.direct_response.body_format.text_format_source.inline_string) == doc
        assert route.direct_response.body_format.content_type == "application/json"
    unknown = routes[7]
    assert unknown.match.safe_regex.regex == routes[8].match.safe_regex.regex  # the same model paths
    assert [(h.name, h.string_match.safe_regex.regex) for h in unknown.match.headers] == [("x-pin", ".+")]
    assert unknown.direct_response.status == 400
    # Envoy's formatter fills in the value: with it, the text is the gateway's own message
    template = unknown.direct_response.body_format.json_format["error"]
    try:
        RouteTable.from_config(c).route("m").decide(None, {"x-pin": "zz"}, lambda: 0.5)
    except UnknownVariant as exc:
        assert template.replace("%REQ(x-pin)%", "zz") == str(exc)
    else:
        raise AssertionError("the gateway accepted an unknown variant")


def test_validate_for_envoy_lists_and_exits_non_zero_only_when_strict(tmp_path, capsys):
    good = tmp_path / "t.yaml"
    good.write_text(yaml.safe_dump({"backends": [V2], "routes": [{"model": "m", "variants": [{"backend": "v2", "weight": 1}],
                                                                  "fallback": "v2"}]}))  # fmt: skip
    assert main(["validate", "--for", "envoy", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{good}: 2 setting(s) Envoy will not honour:" in out
    assert "  route 'm': fallback: Envoy does not retry on 'v2' when a variant fails" in out
    assert main(["validate", "--for", "envoy", "--strict", str(good)]) == 1
    assert main(["validate", "--for", "grpc", str(good)]) == 0
    assert "a proxyless gRPC client will not honour" in capsys.readouterr().out
    assert main(["validate", str(good)]) == 0 and "will not honour" not in capsys.readouterr().out
    assert main(["validate", "--strict", str(good)]) == 2  # --strict means nothing without --for
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: [{model: m}]\n")
    assert main(["validate", "--for", "envoy", str(bad)]) == 1


async def test_the_control_plane_keeps_the_list_per_file(tmp_path):
    write(tmp_path / "default.yaml", {"backends": [V2, V1], "routes": [
        {"model": "m", "variants": [{"backend": "v2", "weight": 1}], "fallback": "v1"}]})  # fmt: skip
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        served = cp.directory.files["default"].as_dict()["not_honoured"]
        c = parse_config((tmp_path / "default.yaml").read_text(), "x", tmp_path)
        assert served == report(c) and ("m", "fallback") in {(g["route"], g["feature"]) for g in served["envoy"]}


def test_versions_get_their_own_split_and_the_gateways_answers():
    """Per public version: pinned variants of that version, the others 400, the split of that
    version; other versions 404; each with the gateway's (RouteTable's) message."""
    c = cfg([{"model": "m", "override_header": "x-pin",
              "variants": [{"backend": "v2", "weight": 3, "version": "blue"}, {"backend": "b2", "weight": 1},
                           {"backend": "v1", "weight": 0, "version": "gold"}]}],
            [V2, {**V2, "name": "b2", "version": "7"}, V1])  # fmt: skip
    routes = {r.name: r for r in resources_from_config(c)[type_urls.ROUTE][HTTP_ROUTES].virtual_hosts[0].routes}
    gateway = RouteTable.from_config(c).route("m")

    def refused(version, headers):
        try:
            gateway.decide(version, headers, lambda: 0.5)
        except Exception as exc:  # noqa: BLE001 - the gateway's routing errors, compared by text
            return str(exc)
        raise AssertionError("the gateway accepted it")

    blue = routes["m/version/blue/weighted"]
    assert [(w.name, w.weight.value) for w in blue.route.weighted_clusters.clusters] == [("v2", 3)]
    assert re.fullmatch(blue.match.safe_regex.regex, "/v2/models/m/versions/blue/infer")
    assert re.fullmatch(blue.match.safe_regex.regex, "/v1/models/m/versions/blue:predict")
    assert not re.fullmatch(blue.match.safe_regex.regex, "/v2/models/m/versions/blue2/infer")
    assert routes["m/version/7/pin/b2"].route.cluster == "b2"
    wrong = routes["m/version/7/pin/v2"]
    assert wrong.direct_response.status == 400
    assert _text(wrong) == refused("7", {"x-pin": "v2"})
    gold = routes["m/version/gold/weighted"]  # all its variants at weight 0: the gateway's 404
    assert gold.direct_response.status == 404 and _text(gold) == refused("gold", {})
    unknown = routes["m/version-unknown"]
    assert unknown.direct_response.status == 404 and "(known: 7, blue, gold)" in _text(unknown)
    assert "has no version" in refused("zz", {}) and "(known: 7, blue, gold)" in refused("zz", {})
    # the whole split keeps every variant and is the one route the inverse reads
    assert [w.name for w in routes["m/weighted"].route.weighted_clusters.clusters] == ["v2", "b2", "v1"]
    assert config_from_resources(resources_from_config(c)) == c


def _text(route) -> str:
    return route.direct_response.body_format.json_format["error"].replace("%%", "%")
