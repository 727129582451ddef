"""Model metadata over REST and gRPC: from the backend, else from the config, else a clear 501 / 503."""

import grpc
import pytest
from tritonclient.grpc import service_pb2 as pb

from isthmus.backends.fake import FakeBackend
from tests.grpc.conftest import channels, grpc_config  # noqa: F401 (a fixture)

IN = {"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}
OUT = {"name": "output-0", "datatype": "FP32", "shape": [-1, 4]}
NOWHERE = ["http://127.0.0.1:9"]  # nothing listens: a backend with a metadata API does not answer


class Described(FakeBackend):
    """A fake whose server answers ``doc`` as its metadata (None: it did not answer)."""

    def __init__(self, name, doc):
        super().__init__(name)
        self.doc = doc

    async def metadata(self, model):
        return self.doc


def backend(name, protocol, **fields):
    return {"name": name, "protocol": protocol, "endpoints": NOWHERE, **fields}


def route(*variants, model="m"):
    return {"model": model, "variants": [{"backend": b, "weight": 1, **extra} for b, extra in variants]}


async def start(gateway, backends, routes, fakes=None):
    return await gateway(grpc_config(backends, routes), backends=fakes)


async def rest(http, server, path):
    async with http.get(server.url + path) as r:
        return r.status, await r.json(content_type=None)


async def test_the_servers_own_metadata_with_its_platform_or_the_backend_kind(gateway, http):
    fakes = {"a": Described("a", {"platform": "triton_x", "inputs": [IN], "outputs": [OUT], "versions": None}),
             "b": Described("b", {"platform": "", "inputs": [IN], "outputs": [OUT]})}
    server = await start(gateway, [backend("a", "kserve-v2"), backend("b", "kserve-v2")],
                         [route(("a", {})), route(("b", {}), model="n")], fakes)
    assert await rest(http, server, "/v2/models/m") == (200, {
        "name": "m", "versions": [], "platform": "triton_x", "inputs": [IN], "outputs": [OUT]})
    status, doc = await rest(http, server, "/v2/models/n")
    assert (status, doc["platform"]) == (200, "kserve")


async def test_declared_tensors_fill_what_the_server_does_not_list(gateway, http):
    # MLServer without declared tensors in its model settings lists none
    fakes = {"ml": Described("ml", {"platform": "", "inputs": [IN], "outputs": []})}
    server = await start(gateway, [backend("ml", "kserve-v2", outputs=[OUT])], [route(("ml", {}))], fakes)
    status, doc = await rest(http, server, "/v2/models/m")
    assert (status, doc["inputs"], doc["outputs"]) == (200, [IN], [OUT])


@pytest.mark.parametrize("protocol, platform", [("kserve-v1", "kserve"), ("ray-serve", "ray"),
                                                ("tfserving", "tensorflow_savedmodel")])
async def test_backends_without_metadata_answer_what_the_config_declares(gateway, http, channels, protocol, platform):  # noqa: F811
    server = await start(gateway, [backend("v", protocol, inputs=[IN], outputs=[OUT])], [route(("v", {"version": "7"}))])
    assert await rest(http, server, "/v2/models/m") == (200, {
        "name": "m", "versions": ["7"], "platform": platform, "inputs": [IN], "outputs": [OUT]})
    md = await channels(server).ModelMetadata(pb.ModelMetadataRequest(name="m"))
    assert (md.platform, [(t.name, t.datatype, list(t.shape)) for t in md.outputs]) == (
        platform, [("output-0", "FP32", [-1, 4])])


async def test_unknown_metadata_is_501_naming_the_protocol_and_how_to_declare(gateway, http, channels):  # noqa: F811
    server = await start(gateway, [backend("ray", "ray-serve"), backend("v1", "kserve-v1", inputs=[IN])],
                         [route(("ray", {}), ("v1", {}))])
    status, doc = await rest(http, server, "/v2/models/m")
    assert status == 501 and list(doc) == ["error"]
    assert doc["error"] == (
        "the metadata of model 'm' is unknown: "
        "backend 'ray': its protocol (ray-serve) has no model metadata; declare its inputs and outputs in the "
        "config (a list of {name, datatype, shape}, -1 for a dynamic dimension); "
        "backend 'v1': its protocol (kserve-v1) has no model metadata; declare its outputs in the config "
        "(a list of {name, datatype, shape}, -1 for a dynamic dimension)"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channels(server).ModelMetadata(pb.ModelMetadataRequest(name="m"))
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.UNIMPLEMENTED, doc["error"])


async def test_a_backend_that_does_not_answer_is_503_and_unavailable(gateway, http, channels):  # noqa: F811
    server = await start(gateway, [backend("k", "kserve-v2")], [route(("k", {}))])  # a real client, nothing listening
    status, doc = await rest(http, server, "/v2/models/m")
    assert status == 503
    assert "backend 'k': it gave no metadata (unreachable, or it does not know the model); declare its inputs and outputs" in doc["error"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channels(server).ModelMetadata(pb.ModelMetadataRequest(name="m"))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_first_variant_that_is_known_answers_and_versions_pick_variants(gateway, http):
    server = await start(
        gateway,
        [backend("ray", "ray-serve"), backend("v1", "kserve-v1", inputs=[IN], outputs=[OUT])],
        [route(("ray", {"version": "1"}), ("v1", {"version": "2"}))],
    )
    status, doc = await rest(http, server, "/v2/models/m")
    assert (status, doc["platform"], doc["versions"]) == (200, "kserve", ["1", "2"])
    assert (await rest(http, server, "/v2/models/m/versions/2"))[0] == 200
    status, doc = await rest(http, server, "/v2/models/m/versions/1")
    assert status == 501 and "backend 'ray'" in doc["error"] and "backend 'v1'" not in doc["error"]
    assert await rest(http, server, "/v2/models/m/versions/9") == (
        404, {"error": "model 'm' has no version '9' (known: 1, 2)"})
    assert (await rest(http, server, "/v2/models/nope"))[0] == 404


async def test_a_malformed_server_answer_counts_as_none(gateway, http):
    bad = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": ["?"]}], "outputs": [OUT]}
    server = await start(gateway, [backend("a", "kserve-v2")], [route(("a", {}))], {"a": Described("a", bad)})
    status, doc = await rest(http, server, "/v2/models/m")
    assert status == 501 and "backend 'a': it lists no inputs; declare its inputs" in doc["error"]
