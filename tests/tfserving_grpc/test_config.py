"""tfserving-grpc in the config file: endpoint forms, the checks' errors, and the xDS round trip."""

import textwrap

import pytest

from isthmus.config import ConfigError, load_config
from isthmus.xds.inverse import config_from_resources
from isthmus.xds.resources import resources_from_config

DOC = """\
backends:
  - name: tfs
    protocol: tfserving-grpc
    endpoints: {endpoints}
    model: fraud
    version: "3"
    signature_name: predict
    timeout: 250ms
routes:
  - model: fraud
    variants: [{{backend: tfs, weight: 1}}]
"""


def load(tmp_path, endpoints):
    p = tmp_path / "traffic.yaml"
    p.write_text(textwrap.dedent(DOC.format(endpoints=endpoints)))
    return load_config(p)


def test_both_endpoint_forms_parse(tmp_path):
    cfg = load(tmp_path, "[grpc://tfs-a.models.svc:8500, 10.0.0.2:8500]")
    b = cfg.backend("tfs")
    assert b.endpoints == ["grpc://tfs-a.models.svc:8500", "grpc://10.0.0.2:8500"]
    assert (b.signature_name, b.version, b.timeout) == ("predict", "3", 0.25)


@pytest.mark.parametrize(
    "endpoint, reason",
    [
        ("http://tfs:8500", "give grpc://host:port or host:port (scheme 'http')"),
        ("grpc://tfs", "a port is required"),
        ("tfs", "a port is required"),
        ("grpc://tfs:8500/v1", "no path, query or user"),
        ("grpc://:8500", "no host"),
        ("grpc://tfs:99999", "bad gRPC endpoint"),
    ],
)
def test_bad_endpoints_are_named(tmp_path, endpoint, reason):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"['{endpoint}']")
    text = "\n".join(str(i) for i in err.value.issues)
    assert "backends[0].endpoints[0]: bad gRPC endpoint" in text and reason in text


def test_xds_round_trip(tmp_path):
    cfg = load(tmp_path, "[grpc://10.0.0.1:8500, tfs-b:8500]")
    assert config_from_resources(resources_from_config(cfg)) == cfg
