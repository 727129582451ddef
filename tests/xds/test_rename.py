"""The model rename's Lua programs (run in LuaJIT, as Envoy runs them) and where they are attached."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from envoy.extensions.filters.http.lua.v3 import lua_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from lupa import luajit21

from isthmus.config import Config, parse_config
from isthmus.xds import resources_from_config, type_urls
from isthmus.xds.rename import LUA_FILTER, Target, lua_program, target
from isthmus.xds.resources import GRPC_ROUTES_PREFIX, HTTP_LISTENER, HTTP_ROUTES

DOC = {
    "backends": [
        {"name": "v2", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9001"], "model": "iris-v2",
         "version": "3"},
        {"name": "v1", "protocol": "kserve-v1", "endpoints": ["http://127.0.0.1:9002"], "model": "iris v1",
         "version": "9"},
        {"name": "tf", "protocol": "tfserving", "endpoints": ["http://127.0.0.1:9003"], "model": 'tf"m\\%'},
        {"name": "same", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9004"]},
        {"name": "label", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9005"]},
        {"name": "ray", "protocol": "ray-serve", "endpoints": ["http://127.0.0.1:9006"], "model": "r"},
        {"name": "grpc", "protocol": "kserve-v2-grpc", "endpoints": ["grpc://127.0.0.1:9007"], "model": "g"},
    ],
    "routes": [
        {"model": "iris", "variants": [{"backend": b, "weight": 1} for b in ("v2", "v1", "tf", "same", "ray", "grpc")]
         + [{"backend": "label", "weight": 1, "version": "canary"}], "override_header": "x-isthmus-variant"},
    ],
}  # fmt: skip


@pytest.fixture
def config() -> Config:
    return parse_config(yaml.safe_dump(DOC), "t.yaml", Path("."))


def run(program: str, path: str) -> str:
    """Run ``envoy_on_request`` on a handle whose headers hold ``:path``; the path it leaves."""
    lua = luajit21.LuaRuntime()
    lua.execute(program)
    headers = {":path": path}
    handle = lua.eval("""function(headers)
        local h = {}
        function h:get(k) return headers[k] end
        function h:replace(k, v) headers[k] = v end
        local handle = {}
        function handle:headers() return h end
        return handle
    end""")(headers)
    lua.globals().envoy_on_request(handle)
    return headers[":path"]


@pytest.mark.parametrize(("backend", "public", "expected"), [
    ("v2", "/v2/models/iris/infer", "/v2/models/iris-v2/versions/3/infer"),
    ("v2", "/v2/models/iris/versions/7/infer", "/v2/models/iris-v2/versions/3/infer"),
    ("v2", "/v2/models/iris", "/v2/models/iris-v2/versions/3"),
    ("v2", "/v2/models/iris/ready?x=1", "/v2/models/iris-v2/versions/3/ready?x=1"),
    ("v2", "/v1/models/iris:predict", "/v1/models/iris:predict"),  # not its dialect: untouched (listed)
    ("v1", "/v1/models/iris:predict", "/v1/models/iris v1:predict"),  # KServe V1 has no version in its URLs
    ("v1", "/v1/models/iris/versions/2:predict", "/v1/models/iris v1:predict"),
    ("tf", "/v1/models/iris:predict", '/v1/models/tf"m\\%:predict'),
    ("tf", "/v1/models/iris/labels/stable:predict", '/v1/models/tf"m\\%:predict'),
    ("tf", "/v1/models/iris/versions/4/metadata", '/v1/models/tf"m\\%/metadata'),
    ("tf", "/v1/models/iris", '/v1/models/tf"m\\%'),
    ("label", "/v2/models/iris/versions/canary/infer", "/v2/models/iris/infer"),  # public label -> backend's none
])  # fmt: skip
def test_programs_rewrite_the_public_path_to_the_backends(config, backend, public, expected):
    program = lua_program(config, config.routes[0], backend)
    assert program is not None
    assert run(program, public) == expected


def test_no_program_where_nothing_changes_or_nothing_can_be_reached(config):
    r = config.routes[0]
    assert target(config, r, "same") is None and lua_program(config, r, "same") is None
    assert target(config, r, "ray") is None and target(config, r, "grpc") is None  # no native REST form (listed)
    assert target(config, r, "v2") == Target("iris-v2", "3")
    assert target(config, r, "label") == Target("iris", None)


def test_programs_ride_on_envoy_routes_only(config):
    res = resources_from_config(config)
    routes = res[type_urls.ROUTE][HTTP_ROUTES].virtual_hosts[0].routes
    weighted = next(x for x in routes if x.name == "iris/weighted")
    with_program = {cw.name for cw in weighted.route.weighted_clusters.clusters if LUA_FILTER in cw.typed_per_filter_config}
    assert with_program == {"v2", "v1", "tf", "label"}
    per_route = lua_pb2.LuaPerRoute()
    next(cw for cw in weighted.route.weighted_clusters.clusters if cw.name == "v2").typed_per_filter_config[
        LUA_FILTER
    ].Unpack(per_route)
    assert per_route.source_code.inline_string == lua_program(config, config.routes[0], "v2")
    pinned = {x.route.cluster for x in routes if "/override/" in x.name and LUA_FILTER in x.typed_per_filter_config}
    assert pinned == with_program
    # the Envoy listener runs the Lua filter before the router, keeping the chosen route
    hcm = hcm_pb2.HttpConnectionManager()
    res[type_urls.LISTENER][HTTP_LISTENER].filter_chains[0].filters[0].typed_config.Unpack(hcm)
    assert [f.name for f in hcm.http_filters] == [LUA_FILTER, "envoy.filters.http.router"]
    lua = lua_pb2.Lua()
    hcm.http_filters[0].typed_config.Unpack(lua)
    assert lua.clear_route_cache.value is False and lua.HasField("clear_route_cache")
    # proxyless gRPC gets neither the filter nor the programs (it would NACK an unknown filter);
    # its unknown-override route cannot be forwarded, so gRPC fails those calls (tests/integration/xds/test_grpc_proxyless.py)
    api = hcm_pb2.HttpConnectionManager()
    res[type_urls.LISTENER]["iris"].api_listener.api_listener.Unpack(api)
    assert [f.name for f in api.http_filters] == ["envoy.filters.http.router"]
    grpc_routes = res[type_urls.ROUTE][GRPC_ROUTES_PREFIX + "iris"].virtual_hosts[0].routes
    assert not any(x.typed_per_filter_config for x in grpc_routes)
    assert not any(cw.typed_per_filter_config for x in grpc_routes for cw in x.route.weighted_clusters.clusters)
    assert [x.name for x in grpc_routes if x.HasField("direct_response")] == ["iris/override-unknown"]
