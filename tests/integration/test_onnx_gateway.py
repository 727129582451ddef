"""Through the running gateway to the local ONNX Runtime backend: the weighted split, stickiness,
overrides and fallback, all over real HTTP."""

import asyncio
import math
from collections import Counter

import orjson

from tests.conftest import v2_body

BODY = orjson.dumps(v2_body([1.0, 2.0]))


def onnx_config(onnx_models, weights, sticky=None):
    backends = [{"name": f"v{i}", "protocol": "onnx", "model_path": str(onnx_models["double" if i % 2 == 0 else "double100"])}
                for i in range(len(weights))]
    route = {"model": "m", "variants": [{"backend": f"v{i}", "weight": w} for i, w in enumerate(weights)],
             "override_header": "x-variant"}
    if sticky:
        route["sticky_header"] = sticky
    return {"backends": backends, "routes": [route]}


async def split(http, url, n, headers_of=lambda i: None, concurrency=32):
    counts: Counter = Counter()
    sem = asyncio.Semaphore(concurrency)

    async def one(i):
        async with sem, http.post(url + "/v2/models/m/infer", data=BODY, headers=headers_of(i)) as r:
            assert r.status == 200, await r.text()
            doc = await r.json()
            counts[r.headers["x-isthmus-backend"]] += 1
            # the answer is the one that backend computes
            expected = [102.0, 104.0] if r.headers["x-isthmus-backend"] in ("v1", "v3") else [2.0, 4.0]
            assert doc["outputs"][0]["data"] == expected

    await asyncio.gather(*(one(i) for i in range(n)))
    return counts


def within_4_sigma(counts, weights, n):
    total = sum(weights)
    for i, w in enumerate(weights):
        p = w / total
        k = counts.get(f"v{i}", 0)
        assert abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)), (counts, weights)


async def test_80_20_split_over_2000_requests(gateway, http, onnx_models):
    server = await gateway(onnx_config(onnx_models, [80, 20]))
    counts = await split(http, server.url, 2000)
    within_4_sigma(counts, [80, 20], 2000)


async def test_3_way_split(gateway, http, onnx_models):
    server = await gateway(onnx_config(onnx_models, [50, 30, 20]))
    counts = await split(http, server.url, 2000)
    within_4_sigma(counts, [50, 30, 20], 2000)


async def test_sticky_users_keep_their_variant(gateway, http, onnx_models):
    server = await gateway(onnx_config(onnx_models, [50, 50], sticky="x-user"))
    first: dict[str, str] = {}
    for rnd in range(3):
        for u in range(40):
            async with http.post(server.url + "/v2/models/m/infer", data=BODY, headers={"x-user": f"u{u}"}) as r:
                first.setdefault(f"u{u}", r.headers["x-isthmus-backend"])
                assert r.headers["x-isthmus-backend"] == first[f"u{u}"]
    assert set(first.values()) == {"v0", "v1"}


async def test_override_pins_the_canary(gateway, http, onnx_models):
    server = await gateway(onnx_config(onnx_models, [100, 0]))
    counts = await split(http, server.url, 50, headers_of=lambda i: {"x-variant": "v1"})
    assert counts == Counter({"v1": 50})


async def test_weight_change_moves_only_the_expected_share_of_sticky_users(gateway, http, onnx_models):
    from isthmus.backends import build_backends
    from isthmus.gateway import GatewayState
    from tests.conftest import make_config

    server = await gateway(onnx_config(onnx_models, [90, 10], sticky="x-user"))
    users = [f"user-{i}" for i in range(1000)]

    async def variants():
        sem = asyncio.Semaphore(32)

        async def one(u):
            async with sem, http.post(server.url + "/v2/models/m/infer", data=BODY, headers={"x-user": u}) as r:
                assert r.status == 200
                return r.headers["x-isthmus-backend"]

        return await asyncio.gather(*(one(u) for u in users))

    before = await variants()
    assert before == await variants()  # constant weights: nobody moves
    new_config = make_config(onnx_config(onnx_models, [80, 20], sticky="x-user"))
    backends = build_backends(new_config)
    for b in backends.values():
        await b.start()
    old = server.dataplane.swap(GatewayState.build(new_config, backends, "2", "test"))
    after = await variants()
    for b in old.backends.values():
        await b.close()
    moved = [(b, a) for b, a in zip(before, after) if b != a]
    assert all(b == "v0" and a == "v1" for b, a in moved)
    n, p = len(users), 0.1
    assert abs(len(moved) - n * p) <= 4 * math.sqrt(n * p * (1 - p)), len(moved)
