"""The telemetry section of the config file: defaults, validation naming the field, relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.config import ConfigError, parse_config


def test_defaults_are_off_except_prometheus_and_the_local_admin_port():
    t = parse_config("{}", "gw.yaml", Path("/etc/isthmus")).telemetry
    assert t.tracing.otlp_endpoint is None and t.metrics.otlp_endpoint is None
    assert t.access_log.enabled is False and t.access_log.path == "-"
    assert t.admin.address == "127.0.0.1:9901" and (t.admin.host, t.admin.port) == ("127.0.0.1", 9901)
    assert t.tracing.sample_ratio == 1.0 and t.service_name == "isthmus"


def test_a_full_section_parses():
    text = """
telemetry:
  service_name: edge-eu
  tracing: {otlp_endpoint: "http://collector:4317", protocol: grpc, sample_ratio: 0.25, headers: {x-api-key: k}}
  metrics: {otlp_endpoint: "http://collector:4318", protocol: http, export_interval: 15s}
  access_log: {enabled: true, path: logs/access.log}
  admin: {address: "0.0.0.0:9901"}
"""
    t = parse_config(text, "gw.yaml", Path("/etc/isthmus")).telemetry
    assert t.tracing.sample_ratio == 0.25 and t.tracing.headers == {"x-api-key": "k"}
    assert t.metrics.protocol == "http" and t.metrics.export_interval == 15.0
    assert t.access_log.path == "/etc/isthmus/logs/access.log"  # relative to the config file


@pytest.mark.parametrize(
    ("section", "field", "reason"),
    [
        ("tracing: {otlp_endpoint: collector:4317}", "telemetry.tracing.otlp_endpoint", "should match pattern"),
        ("tracing: {protocol: thrift}", "telemetry.tracing.protocol", "'grpc' or 'http'"),
        ("tracing: {sample_ratio: 1.5}", "telemetry.tracing.sample_ratio", "less than or equal to 1"),
        ("metrics: {export_interval: soon}", "telemetry.metrics.export_interval", "invalid duration"),
        ("access_log: {enabled: maybe}", "telemetry.access_log.enabled", "valid boolean"),
        ("admin: {address: 9901}", "telemetry.admin.address", "string"),
        ("tracing: {sampling: 1}", "telemetry.tracing.sampling", "unknown field 'sampling'"),
    ],
)
def test_invalid_settings_are_rejected_naming_file_field_and_reason(section, field, reason):
    with pytest.raises(ConfigError) as err:
        parse_config(f"telemetry:\n  {section}\n", "gw.yaml", Path("."))
    (issue,) = err.value.issues
    assert (issue.file, issue.line, issue.path) == ("gw.yaml", 2, field)
    assert reason in issue.reason


def test_an_admin_port_over_65535_is_refused_naming_the_field(tmp_path):
    import pytest

    from isthmus.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("telemetry:\n  admin: {address: '127.0.0.1:99999'}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "telemetry.admin.address" in str(err.value) and "out of range" in str(err.value)


def test_a_listener_port_over_65535_is_refused_naming_the_field(tmp_path):
    import pytest

    from isthmus.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("listener: {address: '0.0.0.0:8080', grpc_address: '0.0.0.0:70000'}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "listener.grpc_address" in str(err.value) and "out of range" in str(err.value)
