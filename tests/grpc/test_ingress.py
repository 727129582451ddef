"""The gRPC ingress over fake backends: services, metadata in and out, statuses, deadlines."""

import time

import grpc
import numpy as np
import pytest

from isthmus.backends import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable
from isthmus.backends.fake import FakeBackend, doubling
from isthmus.codecs import InferRequest, Tensor
from isthmus.codecs import v2_grpc as codec
from isthmus.gateway.grpc_ingress import metadata_headers
from tests.grpc.conftest import SlowBackend, grpc_config
from tests.waiting import until

pb = codec.pb


def infer_request(x: np.ndarray, model: str = "m", raw: bool = True, **fields) -> pb.ModelInferRequest:
    t = Tensor("input-0", "FP32", x.astype(np.float32))
    return codec.encode_request(InferRequest(id=fields.pop("id", None)), (t,), model, raw=raw, **fields)


def output(reply: pb.ModelInferResponse) -> np.ndarray:
    return codec.decode_response(reply, "gateway").outputs[0].data


async def test_health_and_metadata_services(gateway, channels):
    server = await gateway(grpc_config(["a"], routes=[{"model": "m", "variants": [{"backend": "a", "weight": 1,
                                                                                   "version": "3"}]}]),
                           backends={"a": FakeBackend("a")})
    stub = channels(server)
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live
    assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
    assert (await stub.ServerMetadata(pb.ServerMetadataRequest())).name == "isthmus"
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="m"))).ready
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="m", version="3"))).ready
    md = await stub.ModelMetadata(pb.ModelMetadataRequest(name="m"))
    assert (md.name, list(md.versions), md.inputs[0].name, list(md.inputs[0].shape)) == ("m", ["3"], "input-0", [-1, -1])
    for call, req in ((stub.ModelReady, pb.ModelReadyRequest(name="nope")),
                      (stub.ModelMetadata, pb.ModelMetadataRequest(name="m", version="9"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(req)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("raw", [True, False])
async def test_infer_typed_or_raw_answers_with_metadata(gateway, channels, raw):
    server = await gateway(grpc_config(["a"]), backends={"a": FakeBackend("a", doubling(1.0))})
    x = np.array([[1.5, -2], [3, 4]])
    call = channels(server).ModelInfer(infer_request(x, raw=raw, id="req-7"), metadata=[("x-request-id", "abc-1")])
    reply = await call
    np.testing.assert_array_equal(output(reply), x * 2 + 1)
    assert (reply.model_name, reply.id) == ("m", "req-7")
    md = dict(await call.initial_metadata())
    assert (md["x-isthmus-backend"], md["x-isthmus-cache"], md["x-request-id"]) == ("a", "bypass", "abc-1")


async def test_sticky_override_tenant_and_cache_keys_come_from_metadata(gateway, channels):
    config = grpc_config(["a", "b"], routes=[{
        "model": "m", "variants": [{"backend": "a", "weight": 1}, {"backend": "b", "weight": 1}],
        "sticky_header": "X-User-Id", "override_header": "X-Variant", "cache": {"enabled": True}}])
    server = await gateway(config, backends={"a": FakeBackend("a", doubling(0)), "b": FakeBackend("b", doubling(100))})
    stub = channels(server)
    req = infer_request(np.ones((1, 2)))

    async def backend_of(*metadata):
        call = stub.ModelInfer(req, metadata=metadata)
        reply = await call
        md = dict(await call.initial_metadata())
        assert output(reply)[0, 0] == 2 + {"a": 0, "b": 100}[md["x-isthmus-backend"]]
        return md["x-isthmus-backend"], md["x-isthmus-cache"]

    assert await backend_of(("x-variant", "b")) == ("b", "miss")
    assert await backend_of(("x-variant", "b")) == ("b", "hit")
    assert await backend_of(("x-variant", "b"), ("cache-control", "no-cache")) == ("b", "bypass")
    sticky = {await backend_of(("x-user-id", "alice")) for _ in range(10)}
    assert len({b for b, _ in sticky}) == 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ModelInfer(req, metadata=[("x-variant", "zzz")])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "zzz" in err.value.details()


def test_metadata_headers_ignore_binary_and_join_repeats():
    h = metadata_headers([("x-user-id", "a"), ("X-User-Id", "b"), ("trace-bin", b"\0"), ("k", "v")])
    assert (h.get("X-USER-ID"), "trace-bin" in h, h["k"]) == ("a, b", False, "v")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.inputs[0].contents.int_contents.append(1), "both in raw_input_contents and in 'contents'"),
        (lambda r: r.raw_input_contents.__setitem__(0, b"\0" * 3), "raw data has 3 bytes but shape [1, 2] of FP32"),
        (lambda r: setattr(r.inputs[0], "datatype", "BF16"), "unsupported datatype 'BF16'"),
        (lambda r: setattr(r, "model_name", ""), "model_name is required"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_problem(gateway, channels, mutate, message):
    server = await gateway(grpc_config(["a"]), backends={"a": FakeBackend("a")})
    req = infer_request(np.ones((1, 2)))
    mutate(req)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channels(server).ModelInfer(req)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()


@pytest.mark.parametrize(
    "error, code",
    [
        (BackendUnavailable("a", "connection refused"), grpc.StatusCode.UNAVAILABLE),
        (BackendTimeout("a", "no answer in 1s"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (BackendFailed("a", "HTTP 500: boom"), grpc.StatusCode.INTERNAL),
        (BackendRejected("a", "input-0 must be FP32", 400), grpc.StatusCode.INVALID_ARGUMENT),
        (BackendRejected("a", "no such model", 404), grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_backend_errors_carry_their_status_the_backend_and_the_request_id(gateway, channels, error, code):
    server = await gateway(grpc_config(["a"]), backends={"a": FakeBackend("a", error=error)})
    call = channels(server).ModelInfer(infer_request(np.ones((1, 2))), metadata=[("x-request-id", "r-9")])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code
    assert err.value.details() == str(error) and "backend 'a'" in err.value.details()
    trailers = dict(err.value.trailing_metadata())
    assert (trailers["x-isthmus-backend"], trailers["x-request-id"]) == ("a", "r-9")


async def test_unexpected_error_is_internal_without_details(gateway, channels):
    server = await gateway(grpc_config(["a"]), backends={"a": FakeBackend("a", error=KeyError("secret"))})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channels(server).ModelInfer(infer_request(np.ones((1, 2))), metadata=[("x-request-id", "r-1")])
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert err.value.details() == "internal error (request id r-1)"


async def test_fallback_answers_over_grpc(gateway, channels):
    config = grpc_config(["a", "fb"], routes=[{"model": "m", "variants": [{"backend": "a", "weight": 1}],
                                               "fallback": "fb"}])
    server = await gateway(config, backends={"a": FakeBackend("a", error=BackendUnavailable("a", "down")),
                                             "fb": FakeBackend("fb", doubling(7))})
    call = channels(server).ModelInfer(infer_request(np.ones((1, 1))))
    assert output(await call)[0, 0] == 9
    assert dict(await call.initial_metadata())["x-isthmus-backend"] == "fb"


async def test_client_deadline_bounds_the_request_and_reaches_the_backend(gateway, channels):
    slow = SlowBackend("a", delay=5.0)
    server = await gateway(grpc_config(["a"]), backends={"a": slow})
    t0 = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channels(server).ModelInfer(infer_request(np.ones((1, 2))), timeout=0.3)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - t0 < 1.0
    (seen,) = slow.seen_timeouts
    assert 0 < seen <= 0.35  # what a backend client would give its own call (grpc-timeout rounds up)
    await until(lambda: slow.cancelled, "the gateway to cancel the backend call too")
    assert slow.cancelled == 1


async def test_no_deadline_means_the_backend_timeout(gateway, channels):
    slow = SlowBackend("a", delay=0.0)
    server = await gateway(grpc_config(["a"]), backends={"a": slow})
    await channels(server).ModelInfer(infer_request(np.ones((1, 2))))
    assert slow.seen_timeouts == [10.0]
