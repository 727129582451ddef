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


def load(tmp_path, endpoints, protocol="tfserving-grpc"):
    p = tmp_path / "traffic.yaml"
    doc = DOC.format(endpoints=endpoints).replace("protocol: tfserving-grpc", f"protocol: {protocol}")
    if protocol != "tfserving-grpc":
        doc = doc.replace("    signature_name: predict\n", "")
    p.write_text(textwrap.dedent(doc))
    return load_config(p)


def test_every_endpoint_form_parses_to_one_spelling(tmp_path):
    cfg = load(tmp_path, "[grpc://tfs-a.models.svc:8500, 10.0.0.2:8500, grpcs://tfs-c:8500, http://tfs-d:8500]")
    b = cfg.backend("tfs")
    assert b.endpoints == ["grpc://tfs-a.models.svc:8500", "grpc://10.0.0.2:8500", "grpcs://tfs-c:8500",
                           "grpc://tfs-d:8500"]
    assert (b.signature_name, b.version, b.timeout) == ("predict", "3", 0.25)


@pytest.mark.parametrize(
    "endpoint, reason",
    [
        ("ftp://tfs:8500", "give grpc://host:port, grpcs://host:port or host:port (scheme 'ftp')"),
        ("grpc://tfs", "a port is required"),
        ("grpcs://tfs", "a port is required"),
        ("tfs", "a port is required"),
        ("grpc://tfs:8500/v1", "no path, query or user"),
        ("grpc://user@tfs:8500", "no path, query or user"),
        ("grpc://:8500", "no host"),
        ("grpc://tfs:99999", "bad gRPC endpoint"),
    ],
)
@pytest.mark.parametrize("protocol", ["tfserving-grpc", "kserve-v2-grpc"])
def test_bad_endpoints_are_named(tmp_path, endpoint, reason, protocol):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"['{endpoint}']", protocol)
    text = "\n".join(str(i) for i in err.value.issues)
    assert "backends[0].endpoints[0]: bad gRPC endpoint" in text and reason in text


def test_xds_round_trip(tmp_path):
    cfg = load(tmp_path, "[grpc://10.0.0.1:8500, tfs-b:8500]")
    assert config_from_resources(resources_from_config(cfg)) == cfg
