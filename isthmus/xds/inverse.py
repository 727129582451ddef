"""xDS resources -> Config: what an Isthmus gateway rebuilds from what the control plane serves.

The inverse of :func:`isthmus.xds.resources.resources_from_config`: ``config_from_resources(
resources_from_config(c)) == c``. Real xDS fields are read where they exist (weights, endpoints,
headers, pool size, listener address and TLS); the rest comes from ``filter_metadata["isthmus"]``.
The result is validated by the same pydantic model (and cross checks) as a config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pydantic
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf import any_pb2, message

from isthmus.config import Config, checks
from isthmus.xds import metadata, type_urls
from isthmus.xds.errors import ResourceError
from isthmus.xds.resources import HTTP_LISTENER, HTTP_ROUTES, TLS_VERSIONS

_TLS_NAMES = {v: k for k, v in TLS_VERSIONS.items()}
_FILE_FIELDS = {"model_path", "cert", "key", "client_ca"}


def config_from_resources(resources: Mapping[str, Mapping[str, message.Message]]) -> Config:
    """Rebuild a :class:`Config` from type URL -> name -> resource (messages, or ``Any`` as received).

    Raises :class:`ResourceError` naming the resource when something is missing or invalid, so a
    client can NACK with that text as ``error_detail``.
    """
    resources = {t: {n: _decoded(t, m) for n, m in by_name.items()} for t, by_name in resources.items()}
    clusters = resources.get(type_urls.CLUSTER, {})
    assignments = resources.get(type_urls.ENDPOINT, {})
    listener = resources.get(type_urls.LISTENER, {}).get(HTTP_LISTENER)
    route_config = resources.get(type_urls.ROUTE, {}).get(HTTP_ROUTES)
    if listener is None:
        raise ResourceError(f"Listener '{HTTP_LISTENER}' missing")
    if route_config is None:
        raise ResourceError(f"RouteConfiguration '{HTTP_ROUTES}' missing")
    listener_doc = _listener(listener)
    doc = {
        "cache": listener_doc.pop("cache", {}),
        "listener": listener_doc,
        "backends": [_backend(c, assignments) for c in clusters.values()],
        "routes": _routes(route_config),
    }
    problems = [
        f"{'.'.join(map(str, p))}: {reason}"
        for p, reason in checks.check(doc, Path("."))
        if p[-1] not in _FILE_FIELDS  # files are the gateway's business when it loads them
    ]
    try:
        config = Config.model_validate(doc)
    except pydantic.ValidationError as exc:
        problems += [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
    if problems:
        raise ResourceError("invalid config from xDS resources: " + "; ".join(problems))
    return config


def _decoded(type_url: str, m: message.Message) -> message.Message:
    if not isinstance(m, any_pb2.Any):
        return m
    out = type_urls.message_class(type_url)()
    if not m.Unpack(out):
        raise ResourceError(f"resource of type {m.type_url} where {type_url} was expected")
    return out


def _listener(lst: listener_pb2.Listener) -> dict[str, Any]:
    sock = lst.address.socket_address
    host = f"[{sock.address}]" if ":" in sock.address else sock.address
    out: dict[str, Any] = {"address": f"{host}:{sock.port_value}", **metadata.read(lst.metadata)}
    chain = lst.filter_chains[0] if lst.filter_chains else None
    if chain is not None and chain.HasField("transport_socket"):
        ctx = tls_pb2.DownstreamTlsContext()
        chain.transport_socket.typed_config.Unpack(ctx)
        common = ctx.common_tls_context
        cert = common.tls_certificates[0]
        tls: dict[str, Any] = {"cert": cert.certificate_chain.filename, "key": cert.private_key.filename}
        tls["min_version"] = _TLS_NAMES.get(common.tls_params.tls_minimum_protocol_version, "1.2")
        if common.validation_context.HasField("trusted_ca"):
            tls["client_ca"] = common.validation_context.trusted_ca.filename
        out["tls"] = tls
    return out


def _backend(c: cluster_pb2.Cluster, assignments: Mapping[str, message.Message]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, **metadata.read(c.metadata)}
    if "protocol" not in out:
        raise ResourceError(f"Cluster '{c.name}': no isthmus metadata (protocol)")
    if out["protocol"] == "onnx":
        return out
    if c.type == cluster_pb2.Cluster.EDS:
        service = c.eds_cluster_config.service_name or c.name
        cla = assignments.get(service)
        if cla is None:
            raise ResourceError(f"Cluster '{c.name}': ClusterLoadAssignment '{service}' missing")
    else:
        cla = c.load_assignment
    out["endpoints"] = _urls(cla)
    thresholds = c.circuit_breakers.thresholds
    if thresholds and thresholds[0].HasField("max_connections"):
        out["max_connections"] = thresholds[0].max_connections.value
    return out


def _urls(cla: endpoint_pb2.ClusterLoadAssignment) -> list[str]:
    urls = []
    for loc in cla.endpoints:
        for lb in loc.lb_endpoints:
            url = metadata.read(lb.metadata).get("url")
            if url is None:
                sock = lb.endpoint.address.socket_address
                url = f"http://{sock.address}:{sock.port_value}"
            urls.append(url)
    return urls


def _routes(rc: route_pb2.RouteConfiguration) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    overrides: dict[str, str] = {}
    for vh in rc.virtual_hosts:
        for route in vh.routes:
            meta = metadata.read(route.metadata)
            model = meta.get("model")
            if model is None:
                if "/override/" in route.name:  # an override route: "<model>/override/<backend>"
                    overrides[route.name.split("/override/")[0]] = route.match.headers[0].name
                continue
            action = route.route
            versions = meta.get("versions") or []
            variants = []
            for i, cw in enumerate(action.weighted_clusters.clusters):
                v: dict[str, Any] = {"backend": cw.name, "weight": cw.weight.value}
                if i < len(versions) and versions[i] is not None:
                    v["version"] = versions[i]
                variants.append(v)
            r: dict[str, Any] = {"model": model, "variants": variants}
            if action.hash_policy:
                r["sticky_header"] = action.hash_policy[0].header.header_name
            if meta.get("fallback") is not None:
                r["fallback"] = meta["fallback"]
            if meta.get("cache") is not None:
                r["cache"] = meta["cache"]
            out[model] = r
    for model, header in overrides.items():
        if model in out:
            out[model]["override_header"] = header
    return list(out.values())
