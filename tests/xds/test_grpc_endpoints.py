"""gRPC backends' endpoints in xDS: grpcs:// is TLS to the backend (an UpstreamTlsContext), as
https:// is, and every spelling survives the round trip in its canonical form."""

from isthmus.xds import type_urls
from isthmus.xds.inverse import config_from_resources
from isthmus.xds.resources import resources_from_config
from tests.conftest import make_config


def test_grpcs_endpoints_are_tls_clusters_and_round_trip():
    config = make_config({
        "backends": [
            {"name": "tls", "protocol": "kserve-v2-grpc", "endpoints": ["https://triton.svc:8001"]},
            {"name": "plain", "protocol": "tfserving-grpc", "endpoints": ["10.0.0.1:8500"]},
        ],
        "routes": [{"model": "m", "variants": [{"backend": "tls", "weight": 1}, {"backend": "plain", "weight": 1}]}],
    })
    assert config.backend("tls").endpoints == ["grpcs://triton.svc:8001"]
    clusters = resources_from_config(config)[type_urls.CLUSTER]
    assert clusters["tls"].transport_socket.name == "envoy.transport_sockets.tls"
    assert not clusters["plain"].HasField("transport_socket")
    assert config_from_resources(resources_from_config(config)) == config
