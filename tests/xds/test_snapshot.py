"""Snapshot consistency and make-before-break staging."""

from __future__ import annotations

import pytest

from isthmus.xds import (
    InconsistentSnapshot,
    Snapshot,
    resources_from_config,
    staged,
    type_urls,
)
from isthmus.xds.resources import HTTP_ROUTES
from tests.xds.helpers import config


def snap(**kw) -> Snapshot:
    return Snapshot.build(resources_from_config(config(**kw)))


def test_versions_are_content_hashes_per_type():
    a, b = snap(weights=(90, 10)), snap(weights=(50, 50))
    assert a.versions == snap(weights=(90, 10)).versions
    changed = {t for t in type_urls.ORDER if a.version(t) != b.version(t)}
    assert changed == {type_urls.ROUTE}


@pytest.mark.parametrize(
    "drop, message",
    [
        ((type_urls.ENDPOINT, "a"), "Cluster 'a' needs ClusterLoadAssignment 'a'"),
        ((type_urls.ROUTE, HTTP_ROUTES), "needs RouteConfiguration 'isthmus-http'"),
        ((type_urls.CLUSTER, "b"), "routes to Cluster 'b', which is missing"),
    ],
)
def test_inconsistent_snapshots_are_refused(drop, message):
    r = resources_from_config(config())
    del r[drop[0]][drop[1]]
    with pytest.raises(InconsistentSnapshot, match=message):
        Snapshot.build(r)


def test_unreferenced_resources_are_refused():
    r = resources_from_config(config())
    r[type_urls.ENDPOINT]["zzz"] = r[type_urls.ENDPOINT]["a"]
    with pytest.raises(InconsistentSnapshot, match="'zzz' is named by no EDS cluster"):
        Snapshot.build(r)


def test_a_weight_change_is_one_stage():
    old, new = snap(weights=(90, 10)), snap(weights=(10, 90))
    assert [s.versions for s in staged(old, new)] == [new.versions]
    assert staged(None, new) == [new] and staged(new, new) == []


def test_adding_a_cluster_comes_before_routes_and_removing_after():
    old, new = snap(), snap(extra_backend=True)
    stages = staged(old, new)
    assert len(stages) == 1  # new cluster 'c' unused by routes: only clusters change
    # a route moving from b to c: add c (old routes), then routes, then remove b
    r = resources_from_config(config(extra_backend=True))
    route = r[type_urls.ROUTE][HTTP_ROUTES].virtual_hosts[0].routes
    for x in route:
        for cw in x.route.weighted_clusters.clusters:
            if cw.name == "b":
                cw.name = "c"
        if x.route.cluster == "b":
            x.route.cluster = "c"
    del r[type_urls.CLUSTER]["b"], r[type_urls.ENDPOINT]["b"]
    for t in (type_urls.ROUTE, type_urls.LISTENER):
        r[t] = {n: m for n, m in r[t].items() if not n.endswith("/m") and n != "m"}
    moved = Snapshot.build(r)
    s1, s2, s3 = staged(old, moved)
    assert set(s1.get(type_urls.CLUSTER)) == {"a", "b", "c"} and s1.version(type_urls.ROUTE) == old.version(type_urls.ROUTE)
    assert set(s2.get(type_urls.CLUSTER)) == {"a", "b", "c"} and s2.version(type_urls.ROUTE) == moved.version(type_urls.ROUTE)
    assert s3 is moved and set(s3.get(type_urls.CLUSTER)) == {"a", "c"}
