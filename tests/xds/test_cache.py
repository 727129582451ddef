"""Cache and watch semantics: node groups, one-shot watches, answer order, known versions."""

from __future__ import annotations

from isthmus.xds import (
    NodeInfo,
    Snapshot,
    SnapshotCache,
    resources_from_config,
    type_urls,
)
from isthmus.xds.base import DeltaWatchRequest, WatchRequest
from isthmus.xds.resources import HTTP_LISTENER, HTTP_ROUTES
from tests.xds.helpers import config

NODE = NodeInfo("n1", "edge")


def snap(**kw) -> Snapshot:
    return Snapshot.build(resources_from_config(config(**kw)))


def test_watch_waits_for_a_snapshot_then_answers_once():
    cache, got = SnapshotCache(), []
    cache.create_watch(WatchRequest(NODE, type_urls.CLUSTER, None), got.append)
    assert got == [] and cache.watch_count() == 1
    s = snap()
    cache.set_snapshot("default", s)
    assert [r.version for r in got] == [s.version(type_urls.CLUSTER)]
    assert sorted(r.name for r in got[0].resources) == ["a", "b"]
    cache.set_snapshot("default", snap(weights=(1, 1)))
    assert len(got) == 1 and cache.watch_count() == 0


def test_known_version_parks_the_watch_until_it_changes():
    cache, got = SnapshotCache(), []
    s = snap()
    cache.set_snapshot("default", s)
    known = s.version(type_urls.ROUTE)
    cancel = cache.create_watch(WatchRequest(NODE, type_urls.ROUTE, frozenset({HTTP_ROUTES}), known, frozenset({HTTP_ROUTES})), got.append)
    cache.set_snapshot("default", snap())  # same content, same version
    assert got == []
    cache.set_snapshot("default", snap(weights=(1, 1)))
    assert len(got) == 1 and [r.name for r in got[0].resources] == [HTTP_ROUTES]
    cancel()


def test_newly_subscribed_names_are_answered_at_the_same_version():
    cache, got = SnapshotCache(), []
    s = snap()
    cache.set_snapshot("default", s)
    v = s.version(type_urls.LISTENER)
    cache.create_watch(WatchRequest(NODE, type_urls.LISTENER, frozenset({"m"}), v, frozenset()), got.append)
    assert [r.name for r in got[0].resources] == ["m"]
    got.clear()
    cache.create_watch(WatchRequest(NODE, type_urls.LISTENER, frozenset(), v, frozenset({"m"})), got.append)
    assert got == []  # fewer names: nothing to say


def test_wildcard_listeners_exclude_api_listeners():
    cache, got = SnapshotCache(), []
    cache.set_snapshot("default", snap())
    cache.create_watch(WatchRequest(NODE, type_urls.LISTENER, None), got.append)
    assert [r.name for r in got[0].resources] == [HTTP_LISTENER]


def test_node_cluster_picks_its_group_and_falls_back_to_default():
    cache, got = SnapshotCache(), {}
    default, edge = snap(weights=(1, 0)), snap(weights=(0, 1))
    cache.set_snapshot("default", default)
    for n in (NODE, NodeInfo("n2", "other")):
        cache.create_watch(WatchRequest(n, type_urls.ROUTE, frozenset({HTTP_ROUTES})), lambda r, n=n: got.setdefault(n.id, r))
    assert got["n1"].version == got["n2"].version == default.version(type_urls.ROUTE)
    cache.set_snapshot("edge", edge)
    assert cache.group_of(NODE) == "edge" and cache.group_of(NodeInfo("x", "other")) == "default"
    v = default.version(type_urls.ROUTE)
    late = []
    cache.create_watch(WatchRequest(NODE, type_urls.ROUTE, frozenset({HTTP_ROUTES}), v, frozenset({HTTP_ROUTES})), late.append)
    assert late[0].version == edge.version(type_urls.ROUTE)
    cache.clear("edge")
    assert cache.group_of(NODE) == "default"


def test_watches_are_answered_clusters_first():
    cache, order = SnapshotCache(), []
    for t in reversed(type_urls.ORDER):
        cache.create_watch(WatchRequest(NODE, t, None), lambda r: order.append(r.type_url))
    cache.set_snapshot("default", snap())
    assert order == list(type_urls.ORDER)


def test_delta_watch_sends_changes_and_removals():
    cache, got = SnapshotCache(), []
    s1 = snap(extra_backend=True)
    cache.set_snapshot("default", s1)
    cache.create_delta_watch(DeltaWatchRequest(NODE, type_urls.CLUSTER, True, frozenset()), got.append)
    known = {r.name: r.version for r in got[0].resources}
    assert sorted(known) == ["a", "b", "c"] and got[0].removed == []
    v = got[0].version
    got.clear()
    cache.create_delta_watch(DeltaWatchRequest(NODE, type_urls.CLUSTER, True, frozenset(), known, v), got.append)
    assert got == []
    cache.set_snapshot("default", snap())
    assert got[0].resources == [] and got[0].removed == ["c"]
