"""Config -> xDS v3 resources: pure functions, no I/O.

Every setting that has an xDS field goes there (weights, endpoints, header matches, hash policy,
pool size, listener address and TLS); Isthmus-only settings travel as ``filter_metadata["isthmus"]``
(see :mod:`isthmus.xds.metadata`), so :func:`isthmus.xds.inverse.config_from_resources` can rebuild
the whole :class:`~isthmus.config.Config`. The mapping is documented in ``docs/xds.md``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.lua.v3 import lua_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from google.protobuf import message, wrappers_pb2

from isthmus.config import Config, ListenerConfig, RouteConfig
from isthmus.config.model import CacheConfig, OnnxBackendConfig
from isthmus.xds import direct, type_urls
from isthmus.xds.metadata import metadata
from isthmus.xds.rename import LUA_FILTER
from isthmus.xds.routes import add_routes, duration

HTTP_LISTENER = "isthmus-http"
HTTP_ROUTES = "isthmus-http"
GRPC_ROUTES_PREFIX = "isthmus-grpc/"
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
DEFAULT_PORTS = {"http": 80, "https": 443}
TLS_VERSIONS = {"1.2": common_pb2.TlsParameters.TLSv1_2, "1.3": common_pb2.TlsParameters.TLSv1_3}

Resources = dict[str, dict[str, message.Message]]
"""type URL -> resource name -> resource message."""


def resources_from_config(config: Config) -> Resources:
    """Every xDS resource for ``config``: one Envoy listener, one ApiListener per model, ..."""
    sticky = {v.backend for r in config.routes if r.sticky_header for v in r.variants}
    clusters: dict[str, message.Message] = {}
    endpoints: dict[str, message.Message] = {}
    for b in config.backends:
        cluster, assignment = _cluster(b, ring_hash=b.name in sticky)
        clusters[b.name] = cluster
        if assignment is not None:
            endpoints[b.name] = assignment
    listeners: dict[str, message.Message] = {HTTP_LISTENER: _http_listener(config.listener, config.cache)}
    routes: dict[str, message.Message] = {HTTP_ROUTES: _http_route_config(config)}
    for r in config.routes:
        name = GRPC_ROUTES_PREFIX + r.model
        listeners[r.model] = _api_listener(r.model, name)
        routes[name] = _grpc_route_config(config, r, name)
    return {
        type_urls.CLUSTER: clusters,
        type_urls.ENDPOINT: endpoints,
        type_urls.LISTENER: listeners,
        type_urls.ROUTE: routes,
    }


# --- clusters and endpoints -------------------------------------------------------------------


def _cluster(b: Any, ring_hash: bool) -> tuple[cluster_pb2.Cluster, endpoint_pb2.ClusterLoadAssignment | None]:
    c = cluster_pb2.Cluster(name=b.name, connect_timeout=duration(min(b.timeout, 5.0)))
    c.lb_policy = cluster_pb2.Cluster.RING_HASH if ring_hash else cluster_pb2.Cluster.ROUND_ROBIN
    c.metadata.CopyFrom(metadata(_backend_metadata(b)))
    urls: list[str] = [] if isinstance(b, OnnxBackendConfig) else list(b.endpoints)
    assignment = load_assignment(b.name, urls)
    if not isinstance(b, OnnxBackendConfig):
        c.circuit_breakers.thresholds.add(max_connections=wrappers_pb2.UInt32Value(value=b.max_connections))
        if all(urlsplit(u).scheme in ("https", "grpcs") for u in urls):  # TLS to the backend
            ctx = tls_pb2.UpstreamTlsContext(sni=urlsplit(urls[0]).hostname or "")
            c.transport_socket.name = "envoy.transport_sockets.tls"
            c.transport_socket.typed_config.Pack(ctx)
    if all(_is_ip(urlsplit(u).hostname or "") for u in urls):
        c.type = cluster_pb2.Cluster.EDS
        c.eds_cluster_config.eds_config.CopyFrom(_ads())
        c.eds_cluster_config.service_name = b.name
        return c, assignment
    # Host names: EDS endpoints must be IP addresses, so the client resolves them itself.
    # LOGICAL_DNS for one endpoint (gRPC supports it), STRICT_DNS for several.
    c.type = cluster_pb2.Cluster.LOGICAL_DNS if len(urls) == 1 else cluster_pb2.Cluster.STRICT_DNS
    c.load_assignment.CopyFrom(assignment)
    return c, None


def load_assignment(name: str, urls: list[str]) -> endpoint_pb2.ClusterLoadAssignment:
    """Endpoints of one backend, in one locality (gRPC ignores endpoints without a weighted locality)."""
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    if not urls:
        return cla
    loc = cla.endpoints.add()
    loc.locality.region = "isthmus"
    loc.locality.zone = "default"
    loc.load_balancing_weight.value = 1
    for url in urls:
        parts = urlsplit(url)
        lb = loc.lb_endpoints.add()
        sock = lb.endpoint.address.socket_address
        sock.address = parts.hostname or ""
        sock.port_value = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        lb.metadata.CopyFrom(metadata({"url": url}))
    return cla


def _backend_metadata(b: Any) -> dict[str, Any]:
    skip = {"name", "endpoints", "max_connections"}
    return {k: v for k, v in b.model_dump(mode="json").items() if k not in skip}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- listeners --------------------------------------------------------------------------------


def _http_listener(cfg: ListenerConfig, cache: CacheConfig) -> listener_pb2.Listener:
    lst = listener_pb2.Listener(name=HTTP_LISTENER)
    lst.address.socket_address.address = cfg.host
    lst.address.socket_address.port_value = cfg.port
    # the gateway-wide cache settings ride on the listener, the one resource every gateway reads
    lst.metadata.CopyFrom(metadata({"max_body_size": cfg.max_body_size, "cache": cache.model_dump(mode="json")}))
    chain = lst.filter_chains.add()
    f = chain.filters.add(name="envoy.filters.network.http_connection_manager")
    f.typed_config.Pack(_hcm(HTTP_ROUTES, "isthmus_http", lua=True))
    if cfg.tls is not None:
        ctx = tls_pb2.DownstreamTlsContext()
        common = ctx.common_tls_context
        common.tls_params.tls_minimum_protocol_version = TLS_VERSIONS[cfg.tls.min_version]
        cert = common.tls_certificates.add()
        cert.certificate_chain.filename = cfg.tls.cert
        cert.private_key.filename = cfg.tls.key
        if cfg.tls.client_ca is not None:
            common.validation_context.trusted_ca.filename = cfg.tls.client_ca
            ctx.require_client_certificate.value = True
        chain.transport_socket.name = "envoy.transport_sockets.tls"
        chain.transport_socket.typed_config.Pack(ctx)
    return lst


def _api_listener(model: str, route_config: str) -> listener_pb2.Listener:
    """What a proxyless gRPC client asks for with the target ``xds:///<model>``."""
    lst = listener_pb2.Listener(name=model)
    lst.api_listener.api_listener.Pack(_hcm(route_config, "isthmus_grpc"))
    return lst


def _hcm(route_config: str, stat_prefix: str, lua: bool = False) -> hcm_pb2.HttpConnectionManager:
    """The connection manager; ``lua`` (Envoy only: gRPC rejects the filter) adds the Lua filter the
    model rename's per-cluster programs run in (a no-op on routes without one)."""
    hcm = hcm_pb2.HttpConnectionManager(stat_prefix=stat_prefix, codec_type=hcm_pb2.HttpConnectionManager.AUTO)
    hcm.rds.route_config_name = route_config
    hcm.rds.config_source.CopyFrom(_ads())
    if lua:
        # keep the route (and the weighted cluster) Envoy chose: the program only rewrites the path
        hcm.http_filters.add(name=LUA_FILTER).typed_config.Pack(
            lua_pb2.Lua(clear_route_cache=wrappers_pb2.BoolValue(value=False))
        )
    router = hcm.http_filters.add(name="envoy.filters.http.router")
    router.typed_config.Pack(router_pb2.Router())
    return hcm


def _ads() -> config_source_pb2.ConfigSource:
    src = config_source_pb2.ConfigSource(resource_api_version=config_source_pb2.V3)
    src.ads.SetInParent()
    return src


# --- routes -----------------------------------------------------------------------------------


def _http_route_config(config: Config) -> route_pb2.RouteConfiguration:
    rc = route_pb2.RouteConfiguration(name=HTTP_ROUTES)
    vh = rc.virtual_hosts.add(name="isthmus", domains=["*"])
    direct.add_health_routes(vh)
    for r in config.routes:
        model = re.escape(r.model)
        add_routes(vh, config, r, regex=f"^/(v2/models/{model}(/.*)?|v1/models/{model}([/:].*)?)$")
    direct.add_unknown_model_route(vh)
    return rc


def _grpc_route_config(config: Config, r: RouteConfig, name: str) -> route_pb2.RouteConfiguration:
    rc = route_pb2.RouteConfiguration(name=name)
    vh = rc.virtual_hosts.add(name=r.model, domains=[r.model])
    add_routes(vh, config, r, regex=None)
    return rc
