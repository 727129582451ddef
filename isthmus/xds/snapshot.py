"""Immutable, versioned, consistent snapshots of xDS resources, and make-before-break staging.

A :class:`Snapshot` holds every resource of one node group, packed once as ``Any``. Versions are
content hashes: per resource (what delta xDS sends) and per type (what state-of-the-world sends),
so an unchanged type keeps its version and is not re-sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2, message

from isthmus.xds import type_urls
from isthmus.xds.errors import InconsistentSnapshot
from isthmus.xds.resources import Resources


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    message: message.Message
    packed: any_pb2.Any
    version: str  # content hash
    wildcard: bool  # sent to wildcard subscribers (an ApiListener is only sent when asked by name)


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def make_resource(name: str, msg: message.Message) -> Resource:
    packed = any_pb2.Any()
    packed.Pack(msg, deterministic=True)
    wildcard = not (isinstance(msg, listener_pb2.Listener) and msg.HasField("api_listener"))
    return Resource(name, msg, packed, _hash(packed.value), wildcard)


@dataclass(frozen=True)
class Snapshot:
    """Resources of every type for one node group. Build with :meth:`build`; never mutated."""

    resources: Mapping[str, Mapping[str, Resource]]
    versions: Mapping[str, str] = field(default_factory=dict)  # type URL -> version

    @classmethod
    def build(cls, resources: Resources) -> Snapshot:
        """Pack, hash and check ``resources``; raise :class:`InconsistentSnapshot` when they are not."""
        return cls.of({t: {n: make_resource(n, m) for n, m in by_name.items()} for t, by_name in resources.items()})

    @classmethod
    def of(cls, resources: Mapping[str, Mapping[str, Resource]]) -> Snapshot:
        full = {t: dict(sorted(resources.get(t, {}).items())) for t in type_urls.ORDER}
        versions = {t: _hash("".join(f"{n}={r.version};" for n, r in full[t].items()).encode()) for t in full}
        snap = cls(full, versions)
        problems = list(snap.problems())
        if problems:
            raise InconsistentSnapshot("; ".join(problems))
        return snap

    def version(self, type_url: str) -> str:
        return self.versions.get(type_url, "")

    def get(self, type_url: str) -> Mapping[str, Resource]:
        return self.resources.get(type_url, {})

    def problems(self) -> Iterator[str]:
        """Every EDS named by a CDS cluster, every RDS by a listener, every routed cluster in CDS."""
        clusters = self.get(type_urls.CLUSTER)
        eds_names = set()
        for c in clusters.values():
            assert isinstance(c.message, cluster_pb2.Cluster)
            if c.message.type == cluster_pb2.Cluster.EDS:
                eds_names.add(c.message.eds_cluster_config.service_name or c.name)
        endpoints = set(self.get(type_urls.ENDPOINT))
        for name in sorted(eds_names - endpoints):
            yield f"Cluster '{name}' needs ClusterLoadAssignment '{name}', which is missing"
        for name in sorted(endpoints - eds_names):
            yield f"ClusterLoadAssignment '{name}' is named by no EDS cluster"
        rds_names = {rds for lst in self.get(type_urls.LISTENER).values() for rds in _route_names(lst.message)}
        routes = self.get(type_urls.ROUTE)
        for name in sorted(rds_names - set(routes)):
            yield f"a Listener needs RouteConfiguration '{name}', which is missing"
        for name in sorted(set(routes) - rds_names):
            yield f"RouteConfiguration '{name}' is named by no Listener"
        for rc in routes.values():
            for cluster in sorted(_clusters_routed(rc.message) - set(clusters)):
                yield f"RouteConfiguration '{rc.name}' routes to Cluster '{cluster}', which is missing"


def _route_names(lst: message.Message) -> Iterator[str]:
    assert isinstance(lst, listener_pb2.Listener)
    packed = [lst.api_listener.api_listener] if lst.HasField("api_listener") else []
    packed += [f.typed_config for chain in lst.filter_chains for f in chain.filters]
    for a in packed:
        hcm = hcm_pb2.HttpConnectionManager()
        if a.Unpack(hcm) and hcm.HasField("rds"):
            yield hcm.rds.route_config_name


def _clusters_routed(rc: message.Message) -> set[str]:
    assert isinstance(rc, route_pb2.RouteConfiguration)
    out = set()
    for vh in rc.virtual_hosts:
        for r in vh.routes:
            if r.route.cluster:
                out.add(r.route.cluster)
            out.update(cw.name for cw in r.route.weighted_clusters.clusters)
    return out


def staged(old: Snapshot | None, new: Snapshot) -> list[Snapshot]:
    """The snapshots to serve, in order, to go from ``old`` to ``new`` make-before-break.

    1. clusters and endpoints of both (new definitions win), old listeners and routes;
    2. the same clusters, new listeners and routes (they only name clusters clients already have);
    3. ``new`` itself: clusters only the old config used are removed last.
    Stages equal to the one before are dropped; a weight change is one stage.
    """
    if old is None:
        return [new]
    union = {t: {**old.get(t), **new.get(t)} for t in (type_urls.CLUSTER, type_urls.ENDPOINT)}
    eds = {
        c.message.eds_cluster_config.service_name or n
        for n, c in union[type_urls.CLUSTER].items()
        if c.message.type == cluster_pb2.Cluster.EDS  # type: ignore[attr-defined]
    }
    union[type_urls.ENDPOINT] = {n: r for n, r in union[type_urls.ENDPOINT].items() if n in eds}
    routing = (type_urls.LISTENER, type_urls.ROUTE)
    stages = [
        Snapshot.of({**union, **{t: old.get(t) for t in routing}}),
        Snapshot.of({**union, **{t: new.get(t) for t in routing}}),
        new,
    ]
    out: list[Snapshot] = []
    previous = old
    for s in stages:
        if s.versions != previous.versions:
            out.append(s)
            previous = s
    return out
