"""Rate-limited warnings (fake clock)."""

from __future__ import annotations

import logging

from isthmus.telemetry.warnings import RateLimitedLog


def test_a_key_is_logged_once_per_interval_with_the_count_of_those_suppressed(caplog):
    now = [100.0]
    warn = RateLimitedLog(logging.getLogger("t.degraded"), interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "t.degraded"):
        assert warn.warning("redis", "redis down: %s", "refused")
        assert not warn.warning("redis", "redis down: %s", "refused")
        assert not warn.warning("redis", "redis down: %s", "timeout")
        assert warn.warning("backend-a", "backend a down")  # another key: its own limit
        now[0] = 109.9
        assert not warn.warning("redis", "redis down: %s", "refused")
        now[0] = 110.0
        assert warn.warning("redis", "redis down: %s", "refused")
        now[0] = 125.0
        assert warn.warning("redis", "redis down: %s", "again")
    assert [r.getMessage() for r in caplog.records] == [
        "redis down: refused",
        "backend a down",
        "redis down: refused (3 more like this in the last 10s)",
        "redis down: again",
    ]


def test_keys_are_bounded():
    warn = RateLimitedLog(logging.getLogger("t.degraded"), interval=10.0, clock=lambda: 0.0)
    for i in range(5000):
        warn.warning(i, "x")
    assert len(warn._next) <= 1024
