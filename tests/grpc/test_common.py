"""grpc_common: what both gRPC backends share (status mapping, metadata, deadlines, channel options)."""

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from isthmus.backends import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable, CallContext
from isthmus.backends.grpc_common import call_deadline, call_limit, call_metadata, channel_options, translate_error
from isthmus.deadline import app_deadline

C = grpc.StatusCode


def rpc_error(code: grpc.StatusCode, details: str = "why") -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details)


@pytest.mark.parametrize(
    "code, kind, status",
    [
        (C.INVALID_ARGUMENT, BackendRejected, 400),
        (C.FAILED_PRECONDITION, BackendRejected, 400),
        (C.OUT_OF_RANGE, BackendRejected, 400),
        (C.NOT_FOUND, BackendRejected, 404),
        (C.DEADLINE_EXCEEDED, BackendTimeout, None),
        (C.UNAVAILABLE, BackendUnavailable, None),
        (C.CANCELLED, BackendUnavailable, None),
        (C.INTERNAL, BackendFailed, None),
        (C.UNIMPLEMENTED, BackendFailed, None),
        (C.RESOURCE_EXHAUSTED, BackendUnavailable, None),  # the server is busy: gRPC's HTTP 429
    ],
)
def test_status_codes_become_backend_errors_naming_backend_and_target(code, kind, status):
    err = translate_error("fraud", "10.0.0.1:8500", rpc_error(code))
    assert type(err) is kind and err.backend == "fraud"
    if status is not None:
        assert err.status == status and str(err).endswith("why")  # the app's problem: the server's words
    else:
        assert f"10.0.0.1:8500: {code.name}: why" in str(err)


def test_errors_carry_the_grpc_code_and_whether_the_call_was_sent():
    for code, kind in [(C.UNAVAILABLE, BackendUnavailable), (C.INTERNAL, BackendFailed), (C.CANCELLED, BackendUnavailable)]:
        err = translate_error("b", "t:1", rpc_error(code, "Socket closed"))
        assert type(err) is kind and err.grpc_code == code.name
    # gRPC core's words when the call never left: no connection could be made
    for details in ["failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: "
                    "Failed to connect to remote host: Connection refused",
                    "DNS resolution failed for nowhere.invalid:1"]:  # fmt: skip
        err = translate_error("b", "t:1", rpc_error(C.UNAVAILABLE, details))
        assert type(err) is BackendUnavailable and err.sent is False and err.grpc_code == "UNAVAILABLE"
    for details in ["Socket closed", "recvmsg:Connection reset by peer", ""]:
        assert translate_error("b", "t:1", rpc_error(C.UNAVAILABLE, details)).sent is True
    too_big = translate_error("b", "t:1", rpc_error(C.RESOURCE_EXHAUSTED, "Received message larger than max (9 vs. 4)"))
    assert type(too_big) is BackendFailed and too_big.grpc_code == "RESOURCE_EXHAUSTED"  # our own limit: not busy


def test_the_try_timeout_replaces_the_backend_timeout_within_the_app_deadline():
    assert call_limit("b", CallContext("m", "r"), 2.0) == 2.0
    assert call_limit("b", CallContext("m", "r", timeout=0.5), 2.0) == 0.5
    with app_deadline(0.2):
        assert 0 < call_limit("b", CallContext("m", "r", timeout=0.5), 2.0) <= 0.2


def test_metadata_carries_the_request_id_and_only_forwardable_headers():
    ctx = CallContext("m", "rid-1", {"X-User": "u", "x-request-id": "theirs", "grpc-timeout": "1S",
                                     "trace-bin": "x", "Bad Key": "v"})
    assert call_metadata(ctx) == (("x-request-id", "rid-1"), ("x-user", "u"))


def test_deadline_is_the_nearer_of_timeout_and_app_deadline():
    assert call_deadline("b", 2.0) == 2.0
    with app_deadline(0.5):
        assert 0 < call_deadline("b", 2.0) <= 0.5
    with app_deadline(-1.0), pytest.raises(BackendTimeout, match="deadline passed before the call"):
        call_deadline("b", 2.0)


def test_channel_options():
    plain = dict(channel_options(1024))
    assert plain["grpc.max_send_message_length"] == plain["grpc.max_receive_message_length"] == 1024
    assert "grpc.keepalive_time_ms" not in plain
    kept = dict(channel_options(1024, keepalive_time=30.0, keepalive_timeout=10.0))
    assert (kept["grpc.keepalive_time_ms"], kept["grpc.keepalive_timeout_ms"]) == (30_000, 10_000)
