"""Config -> xDS resources -> Config, and the xDS fields each setting lands in."""

from __future__ import annotations

from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from isthmus.config import parse_config
from isthmus.xds import (
    ResourceError,
    config_from_resources,
    resources_from_config,
    type_urls,
)
from isthmus.xds.resources import GRPC_ROUTES_PREFIX, HTTP_LISTENER, HTTP_ROUTES
from tests.xds.helpers import config

FULL = """
listener:
  address: 127.0.0.1:8081
  max_body_size: 1MiB
  tls: {cert: c.pem, key: k.pem, client_ca: ca.pem, min_version: "1.3"}
backends:
  - {name: a, protocol: kserve-v2, endpoints: [http://127.0.0.1:9001, http://127.0.0.1:9002/base], model: m1,
     version: "3", timeout: 250ms, max_connections: 7}
  - {name: b, protocol: tfserving, endpoints: ["https://tf.example.com"], format: columnar, signature_name: sig,
     tensors: {input_name: x, output_name: y, datatype: INT64}}
  - {name: c, protocol: ray-serve, endpoints: [http://ray-a:8000, http://ray-b:8000], route_prefix: /r}
  - {name: d, protocol: kserve-v1, endpoints: ["http://[::1]:8000"]}
  - {name: e, protocol: onnx, model_path: e.onnx, device: cpu, threads: 2, workers: 3, warmup: false}
routes:
  - model: fraud
    variants: [{backend: a, weight: 90}, {backend: b, weight: 10, version: v2}, {backend: c, weight: 0}]
    sticky_header: X-User-Id
    override_header: x-isthmus-variant
    fallback: e
  - model: m.two
    variants: [{backend: d, weight: 1}]
    cache: {enabled: true, ttl: 30s, max_entry_size: 64KiB, coalesce: false}
cache:
  memory_max_bytes: 8MiB
  tenant_header: x-tenant
  redis: {url: "redis://cache:6379/1", timeout: 3ms, distributed_coalescing: true, lock_ttl: 1s}
"""


@pytest.fixture(autouse=True)
def _files(tmp_path, monkeypatch):
    for name in ("c.pem", "k.pem", "ca.pem", "e.onnx"):
        (tmp_path / name).write_text("x")
    monkeypatch.chdir(tmp_path)


def full():
    return parse_config(FULL, "full.yaml", Path.cwd())


def test_round_trip_of_every_setting():
    c = full()
    assert config_from_resources(resources_from_config(c)) == c


def test_round_trip_survives_the_wire():
    """What a client decodes from Any equals what was generated."""
    from isthmus.xds.snapshot import Snapshot

    snap = Snapshot.build(resources_from_config(full()))
    received = {t: {name: r.packed for name, r in by_name.items()} for t, by_name in snap.resources.items()}
    assert config_from_resources(received) == full()


def test_mapping_to_xds_fields():
    r = resources_from_config(full())
    clusters = r[type_urls.CLUSTER]
    assert clusters["a"].type == cluster_pb2.Cluster.EDS and clusters["a"].lb_policy == cluster_pb2.Cluster.RING_HASH
    assert clusters["a"].circuit_breakers.thresholds[0].max_connections.value == 7
    assert clusters["d"].lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    # host names cannot be EDS endpoints: the client resolves them
    assert clusters["b"].type == cluster_pb2.Cluster.LOGICAL_DNS
    assert clusters["b"].transport_socket.name == "envoy.transport_sockets.tls"
    assert clusters["c"].type == cluster_pb2.Cluster.STRICT_DNS
    assert set(r[type_urls.ENDPOINT]) == {"a", "d", "e"}
    cla = r[type_urls.ENDPOINT]["a"]
    assert cla.endpoints[0].locality.region and cla.endpoints[0].load_balancing_weight.value == 1
    assert [e.endpoint.address.socket_address.port_value for e in cla.endpoints[0].lb_endpoints] == [9001, 9002]
    assert set(r[type_urls.LISTENER]) == {HTTP_LISTENER, "fraud", "m.two"}
    assert r[type_urls.LISTENER]["fraud"].HasField("api_listener")
    assert set(r[type_urls.ROUTE]) == {HTTP_ROUTES, GRPC_ROUTES_PREFIX + "fraud", GRPC_ROUTES_PREFIX + "m.two"}
    routes = r[type_urls.ROUTE][HTTP_ROUTES].virtual_hosts[0].routes
    overrides = [x for x in routes if "/override/" in x.name]
    assert [(x.match.headers[0].name, x.match.headers[0].string_match.exact, x.route.cluster) for x in overrides] == [
        ("x-isthmus-variant", "a", "a"), ("x-isthmus-variant", "b", "b"), ("x-isthmus-variant", "c", "c")
    ]  # fmt: skip
    weighted = [x for x in routes if x.name == "fraud/weighted"]
    assert [(c.name, c.weight.value) for c in weighted[0].route.weighted_clusters.clusters] == [
        ("a", 90), ("b", 10), ("c", 0)
    ]  # fmt: skip
    assert weighted[0].route.hash_policy[0].header.header_name == "X-User-Id"
    assert weighted[0].route.weighted_clusters.use_hash_policy.value
    grpc_vh = r[type_urls.ROUTE][GRPC_ROUTES_PREFIX + "fraud"].virtual_hosts[0]
    assert list(grpc_vh.domains) == ["fraud"]


def test_http_route_regex_matches_both_protocols_of_one_model_only():
    import re

    routes = resources_from_config(full())[type_urls.ROUTE][HTTP_ROUTES].virtual_hosts[0].routes
    rx = re.compile([x for x in routes if x.name == "m.two/weighted"][0].match.safe_regex.regex)
    for path in ["/v2/models/m.two/infer", "/v2/models/m.two/versions/1/infer", "/v2/models/m.two", "/v1/models/m.two:predict",
                 "/v1/models/m.two/versions/2:predict", "/v1/models/m.two/labels/stable:predict", "/v1/models/m.two/metadata"]:  # fmt: skip
        assert rx.match(path), path
    for path in ["/v2/models/mxtwo/infer", "/v2/models/m.two2/infer", "/v1/models/m.two2:predict", "/v1/models/m.two2/metadata"]:
        assert not rx.match(path), path


def test_missing_or_invalid_resources_are_named():
    r = resources_from_config(config())
    with pytest.raises(ResourceError, match="ClusterLoadAssignment 'a' missing"):
        config_from_resources({**r, type_urls.ENDPOINT: {}})
    with pytest.raises(ResourceError, match="Listener 'isthmus-http' missing"):
        config_from_resources({**r, type_urls.LISTENER: {}})
    routes = r[type_urls.ROUTE]
    weighted = [x for x in routes[HTTP_ROUTES].virtual_hosts[0].routes if x.name == "m/weighted"][0]
    for cw in weighted.route.weighted_clusters.clusters:
        cw.weight.value = 0
    with pytest.raises(ResourceError, match="total weight is 0"):
        config_from_resources(r)
