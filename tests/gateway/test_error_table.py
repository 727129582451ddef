"""The one error table: every exception a layer raises towards the edge has its row, and each edge
(REST status, gRPC code, error kind, retryable) reads it."""

from __future__ import annotations

import importlib
import pkgutil

import grpc
import pytest

import isthmus
from isthmus.backends import BackendError, BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable
from isthmus.backends.errors import BackendUnsupported
from isthmus.codecs import CodecError
from isthmus.gateway.error_table import ERRORS, AppDeadlineExceeded, error_kind, retryable, row_of
from isthmus.gateway.errors import http_status
from isthmus.gateway.grpc_errors import grpc_status
from isthmus.gateway.metadata import MetadataUnknown
from isthmus.router import RoutingError, UnknownModel, UnknownVersion
from isthmus.router.errors import UnknownLabel, UnknownVariant

C = grpc.StatusCode
#: Each layer's exception root, and the gateway's own errors that reach its edges.
ROOTS = (BackendError, CodecError, RoutingError, MetadataUnknown, AppDeadlineExceeded)
LAYERS = ("backends", "codecs", "router", "gateway")


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def test_every_exception_class_of_every_layer_root_has_its_own_row():
    for layer in LAYERS:  # import every module, so that every subclass exists
        package = importlib.import_module(f"isthmus.{layer}")
        for info in pkgutil.walk_packages(package.__path__, f"isthmus.{layer}."):
            importlib.import_module(info.name)
    classes = {c for root in ROOTS for c in _subclasses(root) if c.__module__.startswith(isthmus.__name__ + ".")}
    assert len(classes) >= 14
    missing = sorted(c.__qualname__ for c in classes if c not in ERRORS)
    assert missing == [], f"add a row to isthmus.gateway.error_table.ERRORS for {missing}"


@pytest.mark.parametrize(
    ("exc", "status", "code", "kind", "retry"),
    [
        (BackendUnavailable("b", "connection refused"), 503, C.UNAVAILABLE, "backend_connect", True),
        (BackendTimeout("b", "slow"), 504, C.DEADLINE_EXCEEDED, "backend_timeout", False),
        (BackendFailed("b", "HTTP 500", 500), 502, C.INTERNAL, "backend_status", False),
        (BackendError("b", "odd"), 502, C.INTERNAL, "backend_error", False),
        (BackendRejected("b", "bad dtype", 400), 400, C.INVALID_ARGUMENT, "backend_rejected", False),
        (BackendRejected("b", "too big", 413), 413, C.INVALID_ARGUMENT, "backend_rejected", False),
        (BackendRejected("b", "no model", 404), 404, C.NOT_FOUND, "backend_rejected", False),
        (BackendUnsupported("b", "no classify"), 501, C.UNIMPLEMENTED, "backend_unsupported", False),
        (CodecError("inputs[0]: bad"), 400, C.INVALID_ARGUMENT, "bad_request", False),
        (UnknownModel("x"), 404, C.NOT_FOUND, "unknown_model", False),
        (UnknownVersion("x"), 404, C.NOT_FOUND, "unknown_version", False),
        (UnknownVariant("x"), 400, C.INVALID_ARGUMENT, "routing", False),
        (UnknownLabel("x"), 400, C.INVALID_ARGUMENT, "routing", False),
        (RoutingError("x"), 400, C.INVALID_ARGUMENT, "routing", False),
        (MetadataUnknown("no metadata API", 501), 501, C.UNIMPLEMENTED, "unknown_metadata", False),
        (MetadataUnknown("no variant answered", 503), 503, C.UNAVAILABLE, "unknown_metadata", False),
        (AppDeadlineExceeded("client gave up"), 504, C.DEADLINE_EXCEEDED, "internal", False),
    ],
)
def test_each_edge_reads_its_column(exc, status, code, kind, retry):
    assert http_status(exc) == status
    assert grpc_status(exc) == (code, str(exc))
    assert error_kind(exc) == kind
    assert retryable(exc) is retry


def test_a_subclass_made_elsewhere_takes_its_nearest_ancestors_row():
    class Refused(BackendUnavailable):
        pass

    exc = Refused("b", "refused")
    assert row_of(exc) is ERRORS[BackendUnavailable] and http_status(exc) == 503 and retryable(exc)


def test_a_bug_has_no_row():
    for exc in (KeyError("x"), RuntimeError("x")):
        assert row_of(exc) is None and http_status(exc) is None and grpc_status(exc) is None
        assert error_kind(exc) == "internal" and not retryable(exc)
