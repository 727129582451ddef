"""grpc_status: every layer's errors -> a gRPC code (the twin of http_status)."""

import grpc
import pytest

from isthmus.backends import BackendError, BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable
from isthmus.codecs import CodecError
from isthmus.gateway.grpc_errors import AppDeadlineExceeded, grpc_status
from isthmus.router import RoutingError, UnknownModel, UnknownVariant, UnknownVersion

C = grpc.StatusCode


@pytest.mark.parametrize(
    "exc, code",
    [
        (CodecError("inputs[0]: bad"), C.INVALID_ARGUMENT),
        (UnknownModel("unknown model 'x'"), C.NOT_FOUND),
        (UnknownVersion("unknown version"), C.NOT_FOUND),
        (UnknownVariant("no variant"), C.INVALID_ARGUMENT),
        (RoutingError("bad"), C.INVALID_ARGUMENT),
        (BackendUnavailable("b", "refused"), C.UNAVAILABLE),
        (BackendTimeout("b", "slow"), C.DEADLINE_EXCEEDED),
        (AppDeadlineExceeded("client gave up"), C.DEADLINE_EXCEEDED),
        (BackendFailed("b", "HTTP 500"), C.INTERNAL),
        (BackendError("b", "odd"), C.INTERNAL),
        (BackendRejected("b", "wrong dtype", 400), C.INVALID_ARGUMENT),
        (BackendRejected("b", "too big", 413), C.INVALID_ARGUMENT),
        (BackendRejected("b", "no model", 404), C.NOT_FOUND),
    ],
)
def test_known_errors(exc, code):
    assert grpc_status(exc) == (code, str(exc))


def test_backend_messages_name_the_backend():
    assert grpc_status(BackendUnavailable("fraud-v2", "connection refused"))[1] == (
        "backend 'fraud-v2' is unavailable: connection refused"
    )


def test_a_bug_is_none():
    assert grpc_status(KeyError("x")) is None
