"""xDS v3 control plane: traffic config files served to Isthmus gateways, Envoy and proxyless gRPC.

Layers (go-control-plane's shape): ``resources``/``inverse`` (pure Config <-> xDS mapping),
``snapshot`` (immutable, consistent, versioned), ``cache`` (snapshots per node group + watches),
``server`` with ``stream_sotw``/``stream_delta`` (ADS over grpc.aio; knows nothing of files),
``status`` (ACK/NACK per client), ``source`` (the watched config directory, make-before-break
rollout), ``status_http`` and ``cli``. For Envoy: ``rename`` (per-variant path rewrite programs),
``direct`` (answers Envoy gives itself) and ``envoy_parity`` (what Envoy / proxyless gRPC will not
honour of a config, for ``isthmus validate --for`` and ``/status``). The gateway's side:
``client_sotw``/``client`` (the ADS stream), ``follower`` (resource sets -> Config -> the
``base.ConfigSink`` it is given; it knows no gateway), ``follower_metrics``, ``persist``.
"""

from isthmus.xds.base import ConfigWatcher, NodeInfo, StreamCallbacks
from isthmus.xds.cache import SnapshotCache
from isthmus.xds.errors import InconsistentSnapshot, ResourceError, XdsError
from isthmus.xds.inverse import config_from_resources
from isthmus.xds.resources import resources_from_config
from isthmus.xds.snapshot import Snapshot, staged

__all__ = [
    "ConfigWatcher",
    "InconsistentSnapshot",
    "NodeInfo",
    "ResourceError",
    "Snapshot",
    "SnapshotCache",
    "StreamCallbacks",
    "XdsError",
    "config_from_resources",
    "resources_from_config",
    "staged",
]
