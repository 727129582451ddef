"""Input names checked in the gateway, before the call, against the inputs a backend's config declares."""

import grpc
import numpy as np
import orjson
import pytest

from isthmus.backends.fake import FakeBackend
from isthmus.codecs import InferRequest, Tensor
from isthmus.codecs import v2_grpc as codec
from tests.conftest import v2_body
from tests.grpc.conftest import channels, grpc_config  # noqa: F401 (a fixture)

DECLARED = [{"name": "input-0", "datatype": "FP32", "shape": [-1, -1]}, {"name": "mask", "datatype": "BOOL", "shape": [-1]}]


async def start(gateway):
    fakes = {"k": FakeBackend("k"), "open": FakeBackend("open")}
    backends = [{"name": "k", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"], "inputs": DECLARED},
                {"name": "open", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"]}]
    routes = [{"model": "m", "variants": [{"backend": "k", "weight": 1}]},
              {"model": "free", "variants": [{"backend": "open", "weight": 1}]}]
    return await gateway(grpc_config(backends, routes), backends=fakes), fakes


async def post(http, server, path, doc):
    async with http.post(server.url + path, data=orjson.dumps(doc)) as r:
        return r.status, await r.json()


@pytest.mark.parametrize("name", ["x", "../../etc/passwd", "Input-0"])
async def test_an_undeclared_input_is_400_naming_the_models_inputs_and_the_backend_is_not_called(gateway, http, name):
    server, fakes = await start(gateway)
    status, doc = await post(http, server, "/v2/models/m/infer", v2_body([1.0], name=name))
    assert (status, doc) == (400, {"error": f"unknown input {name!r} (model 'm' has inputs: input-0, mask)"})
    assert fakes["k"].calls == []
    status, _ = await post(http, server, "/v2/models/free/infer", v2_body([1.0], name=name))
    assert status == 200 and len(fakes["open"].calls) == 1  # nothing declared: the backend judges


async def test_declared_inputs_pass_and_v1_instances_are_not_checked(gateway, http):
    server, fakes = await start(gateway)
    assert (await post(http, server, "/v2/models/m/infer", v2_body([1.0])))[0] == 200
    assert (await post(http, server, "/v1/models/m:predict", {"instances": [[1.0]]}))[0] == 200
    assert len(fakes["k"].calls) == 2


async def test_a_nul_in_a_name_is_refused_when_decoded(gateway, http):
    server, fakes = await start(gateway)
    for model in ("m", "free"):
        status, doc = await post(http, server, f"/v2/models/{model}/infer", v2_body([1.0], name="input-0\x00"))
        assert status == 400 and "control character U+0000" in doc["error"]
    assert fakes["k"].calls == fakes["open"].calls == []


async def test_grpc_undeclared_input_is_invalid_argument(gateway, channels):  # noqa: F811
    server, fakes = await start(gateway)
    t = Tensor("x", "FP32", np.ones((1, 1), np.float32))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channels(server).ModelInfer(codec.encode_request(InferRequest(), (t,), "m"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "unknown input 'x' (model 'm' has inputs: input-0, mask)"
    msg = codec.encode_request(InferRequest(), (Tensor("input-0", "FP32", t.data),), "m")
    msg.inputs[0].name = "input-0\n"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channels(server).ModelInfer(msg)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "U+000A" in err.value.details()
    assert fakes["k"].calls == []
