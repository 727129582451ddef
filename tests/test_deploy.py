"""The shipped Kubernetes config is a valid traffic config."""

from pathlib import Path

import yaml

from isthmus.config import parse_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes"


def test_configmap_traffic_file_is_valid():
    cm = yaml.safe_load((DEPLOY / "configmap.yaml").read_text())
    config = parse_config(cm["data"]["traffic.yaml"], "configmap.yaml", DEPLOY)
    assert [r.model for r in config.routes] == ["fraud", "sentiment"]


def test_deployment_mounts_the_configmap_where_serve_reads_it():
    dep = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    pod = dep["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    mount = pod["containers"][0]["volumeMounts"][0]["mountPath"]
    assert args[-1] == f"{mount}/traffic.yaml"
    assert pod["volumes"][0]["configMap"]["name"] == "isthmus-traffic"
