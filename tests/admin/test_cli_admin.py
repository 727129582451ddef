"""``isthmus serve --admin-address``: refused values name the flag; the address reaches the process."""

import pytest

from isthmus.cli import main


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text('listener: {address: "127.0.0.1:0"}\n')
    return str(path)


@pytest.mark.parametrize("value", ["nohost", "127.0.0.1:", "127.0.0.1:999999", "host:port"])
def test_a_malformed_address_is_refused_naming_the_flag(cfg, value, capsys):
    assert main(["serve", "--config", cfg, "--admin-address", value]) == 1
    err = capsys.readouterr().err
    assert err.startswith("--admin-address: ") and "refusing to start" in err


def test_an_admin_address_with_several_workers_is_refused(cfg, capsys):
    assert main(["serve", "--config", cfg, "--workers", "2", "--admin-address", "127.0.0.1:0"]) == 1
    assert "--admin-address: the admin API needs --workers 1" in capsys.readouterr().err


def test_the_config_files_admin_address_is_validated_too(tmp_path, capsys):
    path = tmp_path / "t.yaml"
    path.write_text('telemetry: {admin: {address: "nowhere"}}\n')
    assert main(["serve", "--config", str(path)]) == 1
    assert "telemetry.admin.address" in capsys.readouterr().err
