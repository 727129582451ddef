"""The admin listener's lifecycle: a taken port is fatal when the address was asked for, a warning
when it is the default; 'off' starts nothing."""

import logging
import socket

import pytest

from isthmus.admin import AdminBindError, Readiness, running_admin
from tests.admin.test_handlers import FakeSources


@pytest.fixture
def taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


async def test_an_asked_for_address_that_is_taken_is_an_error_naming_it(taken_port):
    with pytest.raises(AdminBindError, match=f"cannot bind the admin API to 127.0.0.1:{taken_port}"):
        async with running_admin(f"127.0.0.1:{taken_port}", FakeSources(), required=True):
            pass


async def test_a_default_address_that_is_taken_is_a_warning_and_no_admin(taken_port, caplog):
    with caplog.at_level(logging.WARNING, "isthmus.admin.server"):
        async with running_admin(f"127.0.0.1:{taken_port}", FakeSources(), required=False) as api:
            assert api is None
    assert "admin API not started" in caplog.text and str(taken_port) in caplog.text


async def test_off_starts_nothing():
    async with running_admin(None, FakeSources(), required=True) as api:
        assert api is None


async def test_started_then_closed(http):
    async with running_admin("127.0.0.1:0", FakeSources(readiness_value=Readiness(True)), required=True) as api:
        assert api is not None
        async with http.get(api.url + "/ready") as r:
            assert r.status == 200
        url = api.url
    with pytest.raises(OSError):
        async with http.get(url + "/ready"):
            pass

