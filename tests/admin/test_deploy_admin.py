"""The Kubernetes manifests reach the admin API: its port from the ConfigMap, probes and scrape annotations on it."""

from pathlib import Path

import yaml

from isthmus.config import parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def test_probes_and_prometheus_use_the_admin_port_the_config_binds():
    cm = yaml.safe_load((DEPLOY / "configmap.yaml").read_text())
    admin = parse_config(cm["data"]["traffic.yaml"], "configmap.yaml", DEPLOY).telemetry.admin
    assert admin.host == "0.0.0.0"  # the kubelet and Prometheus come from outside the pod
    dep = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    template = dep["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["admin"] == admin.port
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "admin"}
    notes = template["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/path"] == "/metrics"
    assert int(notes["prometheus.io/port"]) == admin.port


def test_no_service_exposes_the_admin_port():
    svc = yaml.safe_load((DEPLOY / "service.yaml").read_text())
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]
