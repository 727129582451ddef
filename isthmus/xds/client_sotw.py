"""The client side of one state-of-the-world ADS stream, for an Isthmus gateway. No gRPC here.

It subscribes to what an Isthmus config needs: Listener ``isthmus-http`` (LDS), the
RouteConfiguration its connection manager names (RDS), every Cluster (CDS wildcard: the
config's whole backend list) and the ClusterLoadAssignment of every EDS cluster (EDS, by name).
Each response replaces that type's state of the world. When every named resource is present
(and every cluster a route uses), the set is *complete* and :meth:`Subscriber.receive` hands it
out to be applied; the caller answers with :meth:`Subscriber.resolve` (ACK, or NACK with the
reason). A response that leaves the set incomplete is ACKed at once (its type is fine on its
own) and nothing is applied: a gateway never applies half a snapshot. A response that cannot be
decoded is NACKed and forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import message

from isthmus.xds import metadata, type_urls
from isthmus.xds.resources import HTTP_LISTENER

Resources = dict[str, dict[str, message.Message]]
"""type URL -> name -> decoded resource."""

INVALID_ARGUMENT = 3  # google.rpc.Code, the error_detail code of a NACK


@dataclass(frozen=True, slots=True)
class _Latest:
    version: str
    nonce: str
    resources: Mapping[str, message.Message]


@dataclass(frozen=True, slots=True)
class Step:
    """What to do after a response: send ``requests`` now; when ``complete`` is set, apply it and
    call :meth:`Subscriber.resolve` with the outcome (the ACK or NACK is sent then)."""

    requests: list[discovery_pb2.DiscoveryRequest] = field(default_factory=list)
    complete: Resources | None = None
    versions: Mapping[str, str] = field(default_factory=dict)


class Subscriber:
    def __init__(self, node: base_pb2.Node, known_versions: Mapping[str, str] | None = None) -> None:
        self._node = node
        self._names: dict[str, list[str] | None] = {
            type_urls.LISTENER: [HTTP_LISTENER],
            type_urls.CLUSTER: [],  # wildcard
            type_urls.ROUTE: None,  # not subscribed until the listener names them
            type_urls.ENDPOINT: None,  # not subscribed until EDS clusters name them
        }
        self._latest: dict[str, _Latest] = {}
        self._accepted: dict[str, str] = dict(known_versions or {})
        self._pending: tuple[str, str, str] | None = None  # (type, version, nonce) awaiting resolve
        self._sent_node = False

    @property
    def accepted_versions(self) -> dict[str, str]:
        return dict(self._accepted)

    def initial_requests(self) -> list[discovery_pb2.DiscoveryRequest]:
        return [self._request(t) for t in (type_urls.CLUSTER, type_urls.LISTENER)]

    def receive(self, resp: discovery_pb2.DiscoveryResponse) -> Step:
        if self._pending is not None:
            raise RuntimeError("receive() before resolve() of the previous complete set")
        t = resp.type_url
        if t not in self._names:
            return Step([self._request(t, nonce=resp.nonce, error=f"type {t} was not subscribed to")])
        try:
            decoded = _decode(t, resp)
        except ValueError as exc:
            return Step([self._request(t, nonce=resp.nonce, error=str(exc))])
        self._latest[t] = _Latest(resp.version_info, resp.nonce, decoded)
        requests = self._resubscribe()
        complete = self._complete()
        if complete is None:
            self._accepted[t] = resp.version_info
            return Step([*requests, self._request(t, nonce=resp.nonce)])
        self._pending = (t, resp.version_info, resp.nonce)
        return Step(requests, complete, {u: lt.version for u, lt in self._latest.items()})

    def resolve(self, error: str | None) -> discovery_pb2.DiscoveryRequest:
        """ACK (``error`` None) or NACK the response that completed the set."""
        if self._pending is None:
            raise RuntimeError("resolve() without a complete set")
        t, version, nonce = self._pending
        self._pending = None
        if error is None:
            self._accepted[t] = version
        return self._request(t, nonce=nonce, error=error)

    # --- subscriptions -----------------------------------------------------------------------

    def _resubscribe(self) -> list[discovery_pb2.DiscoveryRequest]:
        """Follow the names: RDS as the listener names them, EDS as the EDS clusters name them."""
        out = []
        wanted = {type_urls.ROUTE: self._route_names(), type_urls.ENDPOINT: self._eds_names()}
        for t, names in wanted.items():
            if names is not None and names != self._names[t] and (names or self._names[t] is not None):
                self._names[t] = names
                latest = self._latest.get(t)
                out.append(self._request(t, nonce=latest.nonce if latest else ""))
        return out

    def _route_names(self) -> list[str] | None:
        lst = self._resources(type_urls.LISTENER).get(HTTP_LISTENER)
        if lst is None:
            return None
        return sorted(set(_rds_names(lst)))  # type: ignore[arg-type]

    def _eds_names(self) -> list[str] | None:
        if type_urls.CLUSTER not in self._latest:
            return None
        return sorted(
            c.eds_cluster_config.service_name or c.name  # type: ignore[attr-defined]
            for c in self._resources(type_urls.CLUSTER).values()
            if c.type == cluster_pb2.Cluster.EDS  # type: ignore[attr-defined]
        )

    def _complete(self) -> Resources | None:
        lst = self._resources(type_urls.LISTENER).get(HTTP_LISTENER)
        route_names, eds_names = self._route_names(), self._eds_names()
        if lst is None or route_names is None or eds_names is None:
            return None
        routes, assignments = self._resources(type_urls.ROUTE), self._resources(type_urls.ENDPOINT)
        if any(n not in routes for n in route_names) or any(n not in assignments for n in eds_names):
            return None
        clusters = self._resources(type_urls.CLUSTER)
        if any(c not in clusters for n in route_names for c in _clusters_used(routes[n])):  # type: ignore[arg-type]
            return None  # a route ahead of its cluster: wait for CDS
        return {
            type_urls.LISTENER: {HTTP_LISTENER: lst},
            type_urls.ROUTE: {n: routes[n] for n in route_names},
            type_urls.CLUSTER: dict(clusters),
            type_urls.ENDPOINT: {n: assignments[n] for n in eds_names},
        }

    def _resources(self, t: str) -> Mapping[str, message.Message]:
        latest = self._latest.get(t)
        return latest.resources if latest is not None else {}

    def _request(self, t: str, nonce: str = "", error: str | None = None) -> discovery_pb2.DiscoveryRequest:
        req = discovery_pb2.DiscoveryRequest(
            type_url=t,
            version_info=self._accepted.get(t, ""),
            response_nonce=nonce,
            resource_names=self._names.get(t) or [],
        )
        if not self._sent_node:
            req.node.CopyFrom(self._node)
            self._sent_node = True
        if error is not None:
            req.error_detail.code = INVALID_ARGUMENT
            req.error_detail.message = error
        return req


def _decode(t: str, resp: discovery_pb2.DiscoveryResponse) -> dict[str, message.Message]:
    cls = type_urls.message_class(t)
    out: dict[str, message.Message] = {}
    for packed in resp.resources:
        msg = cls()
        try:
            ok = packed.Unpack(msg)
        except message.DecodeError as exc:
            raise ValueError(f"cannot decode a {type_urls.SHORT[t]} resource: {exc}") from None
        if not ok:
            raise ValueError(f"resource of type {packed.type_url} in a {type_urls.SHORT[t]} response")
        name = getattr(msg, "name", "") or getattr(msg, "cluster_name", "")
        if not name:
            raise ValueError(f"a {type_urls.SHORT[t]} resource without a name")
        out[name] = msg
    return out


def _rds_names(lst: listener_pb2.Listener) -> list[str]:
    names = []
    for chain in lst.filter_chains:
        for f in chain.filters:
            hcm = hcm_pb2.HttpConnectionManager()
            if f.typed_config.Unpack(hcm) and hcm.HasField("rds"):
                names.append(hcm.rds.route_config_name)
    return names


def _clusters_used(rc: route_pb2.RouteConfiguration) -> set[str]:
    out = set()
    for vh in rc.virtual_hosts:
        for r in vh.routes:
            if r.route.cluster:
                out.add(r.route.cluster)
            out.update(cw.name for cw in r.route.weighted_clusters.clusters)
            fallback = metadata.read(r.metadata).get("fallback")
            if isinstance(fallback, str):
                out.add(fallback)
    return out
