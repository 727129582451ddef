"""The admin API of real ``isthmus serve`` processes: a file-fed gateway in front of a real ONNX model
and a real Redis that needs a password (ACL user), and an xDS-fed gateway following a real control
plane process. /live, /ready (503 before an xDS gateway's first config), /metrics parsed by
prometheus_client with exact per-variant counts, /config_dump equal to the loaded config with its
secrets redacted, and every metric the Grafana dashboard queries present in a real scrape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from isthmus.admin import REDACTED
from isthmus.config import load_config
from tests.cache.redis_server import running_redis
from tests.conftest import free_port, v2_body
from tests.processes import Process
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "isthmus.json"
REDIS_PASSWORD = "hunter2-r3dis"
ENDPOINT_TOKEN = "t0ken-in-url"
OTLP_TOKEN = "Bearer otlp-s3cret"


@pytest.fixture
def redis_with_password():
    """A real Redis whose ``ops`` user needs a password; the default user may only PING and DBSIZE."""
    acl = ["--user", "ops", "on", f">{REDIS_PASSWORD}", "~*", "&*", "+@all",
           "--user", "default", "on", "nopass", "-@all", "+ping", "+dbsize"]  # fmt: skip
    with running_redis(*acl) as server:
        yield server


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any, str]:
    async with http.get(url) as r:
        body = await r.read()
        ctype = r.headers.get("content-type", "")
        return r.status, (orjson.loads(body) if ctype.startswith("application/json") else body.decode()), ctype


async def until_status(http: aiohttp.ClientSession, proc: Process, url: str, status: int, timeout: float = 30):
    last: list[Any] = [None]

    async def answered() -> tuple[Any] | None:
        assert proc.alive(), proc.describe()
        try:
            last[0] = await get(http, url)
        except aiohttp.ClientError as exc:
            last[0] = exc
            return None
        return (last[0][1],) if last[0][0] == status else None

    (body,) = await until(answered, f"{url} answering {status}", timeout, interval=0.05,
                          detail=lambda: f"last: {last[0]}")
    return body


async def infer(http: aiohttp.ClientSession, base: str, model: str, data: list[float]) -> tuple[int, str]:
    async with http.post(f"{base}/v2/models/{model}/infer", data=orjson.dumps(v2_body(data))) as r:
        await r.read()
        return r.status, r.headers.get("x-isthmus-backend", "")


def samples(exposition: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], through prometheus_client's own parser."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for ls, v in found.get(name, []) if all(ls.get(k) == want for k, want in labels.items()))


def dashboard_metric_names() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return {m for e in exprs for m in re.findall(r"\bisthmus_[a-z0-9_]+\b", e)}


def expected_dump(config_path: Path, variants: dict[str, list[tuple[str | None, float]]]) -> dict[str, Any]:
    """The loaded file as the dump shows it: secrets redacted, each variant with its (effective) version
    and its share of the route's traffic."""
    doc = load_config(config_path).model_dump(mode="json")
    for route in doc["routes"]:
        for v, (version, share) in zip(route["variants"], variants[route["model"]], strict=True):
            v["version"], v["share"] = version, share
    doc["cache"]["redis"]["url"] = doc["cache"]["redis"]["url"].replace(REDIS_PASSWORD, REDACTED)
    for b in doc["backends"]:
        if "endpoints" in b:
            b["endpoints"] = [e.replace(f"svc:{ENDPOINT_TOKEN}@", f"{REDACTED}@") for e in b["endpoints"]]
    doc["telemetry"]["tracing"]["headers"] = {"authorization": REDACTED}
    return doc


def traffic(onnx_model: Path, dead_port: int) -> dict[str, Any]:
    """``scorer``: the real ONNX model, cached; ``flaky``: a backend nobody listens on, falling back to it."""
    return {
        "backends": [
            {"name": "local", "protocol": "onnx", "model_path": str(onnx_model), "version": "1"},
            {"name": "dead", "protocol": "kserve-v2", "endpoints": [f"http://svc:{ENDPOINT_TOKEN}@127.0.0.1:{dead_port}"],
             "timeout": "2s"},
        ],
        "routes": [
            {"model": "scorer", "variants": [{"backend": "local", "weight": 1}], "cache": {"enabled": True}},
            {"model": "flaky", "variants": [{"backend": "dead", "weight": 3}, {"backend": "local", "weight": 0}],
             "fallback": "local", "override_header": "x-isthmus-variant"},
        ],
    }  # fmt: skip


async def test_file_fed_gateway_admin_api(process, tmp_path, onnx_models, redis_with_password, http):
    port, admin_port = free_port(), free_port()
    redis_url = f"redis://ops:{REDIS_PASSWORD}@127.0.0.1:{redis_with_password.port}/0"
    cfg = tmp_path / "traffic.yaml"
    cfg.write_text(yaml.safe_dump({
        "listener": {"address": f"127.0.0.1:{port}"},
        "cache": {"redis": {"url": redis_url, "timeout": "200ms"}},
        "telemetry": {"admin": {"address": f"127.0.0.1:{admin_port}"},
                      "tracing": {"headers": {"authorization": OTLP_TOKEN}}},
        **traffic(onnx_models["double100"], free_port()),
    }))  # fmt: skip
    proc = process("--log-level", "warning", "serve", "--config", str(cfg))
    admin, base = f"http://127.0.0.1:{admin_port}", f"http://127.0.0.1:{port}"

    assert await until_status(http, proc, admin + "/ready", 200) == {"ready": True}
    assert (await get(http, admin + "/live"))[:2] == (200, {"live": True})
    status, index, _ = await get(http, admin + "/")
    assert status == 200 and set(index["endpoints"]) == {"/", "/ready", "/live", "/metrics", "/config_dump"}

    # known traffic: 5 identical scorer requests (1 miss, then L1 hits), 3 flaky ones (all fall back),
    # 2 for a model that does not exist
    assert [await infer(http, base, "scorer", [1.0, 2.0]) for _ in range(5)] == [(200, "local")] * 5
    assert [await infer(http, base, "flaky", [3.0]) for _ in range(3)] == [(200, "local")] * 3
    assert [(await infer(http, base, "nope", [1.0]))[0] for _ in range(2)] == [404, 404]

    status, text, ctype = await get(http, admin + "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    found = samples(text)
    count = "isthmus_request_duration_seconds_count"
    assert total(found, count, model="scorer", variant="local", status="200", cache="miss") == 1
    assert total(found, count, model="scorer", variant="local", status="200", cache="hit") == 4
    assert total(found, count, model="flaky", variant="local", status="200") == 3
    assert total(found, count, model="scorer") + total(found, count, model="flaky") == 8
    assert total(found, count, status="404") == 2
    assert total(found, "isthmus_fallback_activations_total", model="flaky", variant="dead", fallback="local") == 3
    assert total(found, "isthmus_request_errors_total", kind="unknown_model") == 2
    assert total(found, "isthmus_cache_hits_total") == 4 and total(found, "isthmus_cache_misses_total") == 1
    # the answer reached Redis: the gateway authenticated as ops with the password from the URL
    await until(lambda: redis_with_password.cli("dbsize").strip() != "0", "the answer stored in Redis", 10)

    status, dump, _ = await get(http, admin + "/config_dump")
    assert status == 200
    assert dump["version"] == "1" and dump["source"] == {"kind": "file", "path": str(cfg)}
    assert dump["config"] == expected_dump(cfg, {"scorer": [("1", 1.0)], "flaky": [(None, 1.0), ("1", 0.0)]})
    assert dump["config"]["cache"]["redis"]["url"] == f"redis://ops:{REDACTED}@127.0.0.1:{redis_with_password.port}/0"
    text = json.dumps(dump)
    assert REDIS_PASSWORD not in text and ENDPOINT_TOKEN not in text and "otlp-s3cret" not in text

    async with http.post(admin + "/config_dump", data=b"{}") as r:
        assert r.status == 405 and "read-only" in (await r.json())["error"]
    async with http.get(admin + "/stats") as r:
        assert r.status == 404 and "no such admin endpoint" in (await r.json())["error"]


def control_plane(process, config_dir: Path, port: int) -> Process:
    return process("--log-level", "warning", "control-plane", "--config-dir", str(config_dir), "--port", str(port),
                   "--poll-interval", "0.02")  # fmt: skip


async def test_xds_fed_gateway_admin_api_and_the_dashboards_metrics(process, tmp_path, onnx_models, http):
    cp_port, port, admin_port = free_port(), free_port(), free_port()
    config_dir = tmp_path / "traffic"
    config_dir.mkdir()
    (config_dir / "default.yaml").write_text(yaml.safe_dump(traffic(onnx_models["double100"], free_port())))
    base_cfg = tmp_path / "gateway.yaml"  # listener, cache and telemetry are local; Redis here is down
    base_cfg.write_text(yaml.safe_dump({"cache": {"redis": {"url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0",
                                                            "timeout": "50ms"}}}))  # fmt: skip
    gw = process("--log-level", "warning", "serve", "--xds", f"127.0.0.1:{cp_port}", "--node-id", "gw-admin",
                 "--config", str(base_cfg), "--listen", f"127.0.0.1:{port}",
                 "--admin-address", f"127.0.0.1:{admin_port}")  # fmt: skip
    admin, base = f"http://127.0.0.1:{admin_port}", f"http://127.0.0.1:{port}"

    # the control plane is not there yet: alive, not ready, and saying why
    await until_status(http, gw, admin + "/live", 200)
    not_ready = await until_status(http, gw, admin + "/ready", 503)
    assert not_ready["ready"] is False
    assert not_ready["reasons"] == [f"no config yet: waiting for the first one from the control plane 127.0.0.1:{cp_port}"]
    status, dump, _ = await get(http, admin + "/config_dump")
    assert status == 200 and dump["source"]["kind"] == "none" and dump["config"]["routes"] == []

    cp = control_plane(process, config_dir, cp_port)
    await until_status(http, cp, admin + "/ready", 200)
    status, dump, _ = await get(http, admin + "/config_dump")
    assert dump["source"] == {"kind": "xds", "control_plane": f"127.0.0.1:{cp_port}", "node": {"id": "gw-admin", "cluster": ""}}
    assert dump["version"].startswith("xds-") and dump["xds"]["acked_version"] == dump["version"]
    assert dump["xds"]["connected"] is True and dump["xds"]["last_nack"] is None
    routes = {r["model"]: r for r in dump["config"]["routes"]}
    assert [(v["backend"], v["weight"], v["share"]) for v in routes["flaky"]["variants"]] == [
        ("dead", 3, 1.0), ("local", 0, 0.0)]  # fmt: skip
    assert routes["flaky"]["fallback"] == "local" and routes["scorer"]["cache"]["enabled"] is True
    text = json.dumps(dump)
    assert REDIS_PASSWORD not in text and ENDPOINT_TOKEN not in text
    assert f"redis://:{REDACTED}@127.0.0.1:" in dump["config"]["cache"]["redis"]["url"]

    # traffic that touches every panel: cache miss/hits, fallbacks, errors; Redis is down (fails open)
    assert [await infer(http, base, "scorer", [5.0]) for _ in range(3)] == [(200, "local")] * 3
    assert [await infer(http, base, "flaky", [5.0]) for _ in range(2)] == [(200, "local")] * 2
    assert (await infer(http, base, "nope", [1.0]))[0] == 404

    # a config this gateway cannot start: NACKed, the last good one kept and reported
    (config_dir / "broken.onnx").write_bytes(b"not an onnx model")
    broken = traffic(onnx_models["double100"], free_port())
    broken["backends"].append({"name": "bad", "protocol": "onnx", "model_path": str(config_dir / "broken.onnx")})
    broken["routes"][0]["variants"].append({"backend": "bad", "weight": 1})
    (config_dir / "default.yaml").write_text(yaml.safe_dump(broken))

    async def nack_reported() -> dict | None:
        dump = (await get(http, admin + "/config_dump"))[1]
        return dump if dump["xds"]["last_nack"] is not None else None

    nacked = await until(nack_reported, "a NACK reported in /config_dump", 15, interval=0.05)
    assert "cannot start backend 'bad'" in nacked["xds"]["last_nack"]
    assert nacked["version"] == dump["version"] and nacked["xds"]["acked_version"] == dump["version"]

    status, exposition, _ = await get(http, admin + "/metrics")
    assert status == 200
    found = samples(exposition)
    assert total(found, "isthmus_xds_updates_total", result="nack") >= 1
    assert total(found, "isthmus_xds_updates_total", result="ack") >= 1
    assert total(found, "isthmus_xds_connected") == 1
    assert total(found, "isthmus_config_info", version=dump["version"]) == 1
    assert total(found, "isthmus_fallback_activations_total", model="flaky") == 2
    assert total(found, "isthmus_cache_redis_failures_total") >= 1

    wanted = dashboard_metric_names()
    assert wanted >= {"isthmus_request_duration_seconds_bucket", "isthmus_request_duration_seconds_count"}
    missing = wanted - set(found)
    assert not missing, f"the dashboard queries metrics this gateway does not export: {sorted(missing)}"


@pytest.fixture
def busy_default_admin_port():
    """127.0.0.1:9901 taken (by this socket, or already by someone else: either way it is busy)."""
    import socket

    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 9901))
        s.listen()
    except OSError:
        pass
    yield 9901
    s.close()


async def test_admin_port_policy_in_real_processes(process, tmp_path, onnx_models, busy_default_admin_port, http):
    import socket

    port = free_port()
    cfg = tmp_path / "traffic.yaml"
    cfg.write_text(yaml.safe_dump({"listener": {"address": f"127.0.0.1:{port}"},
                                   **traffic(onnx_models["double100"], free_port())}))  # fmt: skip
    # the default address is busy: the gateway serves without its admin API, and says so
    proc = process("serve", "--config", str(cfg))
    await until_status(http, proc, f"http://127.0.0.1:{port}/v2/health/ready", 200)
    assert (await infer(http, f"http://127.0.0.1:{port}", "scorer", [1.0]))[0] == 200
    proc.terminate()
    out, _ = proc.communicate(timeout=15)
    assert "admin API not started: cannot bind the default 127.0.0.1:9901" in out

    # an address asked for that is busy: refused, exit 1, naming it
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        proc = process("serve", "--config", str(cfg), "--admin-address", f"127.0.0.1:{busy}")
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"refusing to start: cannot bind the admin API to 127.0.0.1:{busy}" in out
