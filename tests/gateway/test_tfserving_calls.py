"""TF Serving's Classify / Regress over the data plane (fallback only to a backend that has the call),
and the version status of a route, over fake backends."""

import pytest

from isthmus.backends import BackendUnavailable
from isthmus.backends.errors import BackendUnsupported
from isthmus.backends.fake import FakeBackend
from isthmus.codecs.tfserving_examples import decode_request
from isthmus.gateway import tfserving_calls
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.request_meta import request_meta
from isthmus.gateway.state import GatewayState
from tests.conftest import make_config


class FakeTFServing(FakeBackend):
    """A fake with TF Serving's calls: Classify answers ``[[name, 1.0]]`` per example."""

    async def signature_defs(self, model):
        return None

    async def classify(self, request, ctx):
        from isthmus.protos.tfserving.tensorflow_serving.apis.classification_pb2 import ClassificationResult

        self.calls.append((request, ctx))
        if self.error is not None:
            raise self.error
        out = ClassificationResult()
        out.classifications.add().classes.add(label=self.name, score=1.0)
        return out

    async def regress(self, request, ctx):
        raise AssertionError("not called")


def plane(backends, fallback):
    names = list(backends)
    config = make_config({
        "backends": [{"name": n, "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"],
                      "version": "1" if i == 0 else "2"} for i, n in enumerate(names)],
        "routes": [{"model": "m", "fallback": fallback, "variants": [
            {"backend": names[0], "weight": 1}, {"backend": names[1], "weight": 0}]}],
    })  # fmt: skip
    return DataPlane(GatewayState.build(config, backends, "1", "test"), random=lambda: 0.0)


EXAMPLES = decode_request(b'{"examples": [{"x": 1.0}]}')



async def classify(dp: DataPlane, label: str | None = None):
    """Classify as the ingresses call it: the label resolved, the metadata built at the edge."""
    version, variant = tfserving_calls.resolve(dp.route("m"), None, label)
    meta = request_meta({}, "m", "r", version=version, variant=variant)
    return await tfserving_calls.examples(dp, "classify", EXAMPLES, meta)

async def test_falls_back_only_to_a_backend_with_the_call():
    down = BackendUnavailable("a", "connection refused")
    dp = plane({"a": FakeTFServing("a", error=down), "b": FakeTFServing("b")}, "b")
    result, backend = await classify(dp)
    assert backend == "b" and result.classifications[0].classes[0].label == "b"

    dp = plane({"a": FakeTFServing("a", error=down), "b": FakeBackend("b")}, "b")
    with pytest.raises(BackendUnavailable):  # the fallback cannot classify: the first failure stands
        await classify(dp)

    dp = plane({"a": FakeBackend("a"), "b": FakeTFServing("b")}, "b")
    with pytest.raises(BackendUnsupported, match="backend 'a' cannot serve this request"):  # no fallback on 501
        await classify(dp)
    # a label pins the variant with no weight
    _, backend = await classify(dp, label="b")
    assert backend == "b"


async def test_version_status_per_version():
    a, b = FakeBackend("a"), FakeBackend("b")
    dp = plane({"a": a, "b": b}, None)
    assert await tfserving_calls.version_status(dp, "m", None, None) == [("1", True)]  # b has no traffic
    assert await tfserving_calls.version_status(dp, "m", None, "b") == [("2", True)]  # unless pinned
    a.is_ready = False
    assert await tfserving_calls.version_status(dp, "m", "1", None) == [("1", False)]
