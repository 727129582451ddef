"""What the gRPC backends (``kserve-v2-grpc``, ``tfserving-grpc``) share: channels, call metadata,
deadlines and the one translation of gRPC status codes into :mod:`isthmus.backends.errors`.

Endpoints arrive in the config's canonical form (:func:`isthmus.config.model.grpc_endpoint`):
``grpc://host:port`` is plaintext, ``grpcs://host:port`` TLS with the system's CA roots.
"""

from __future__ import annotations

import re
from typing import Any

import grpc

from isthmus.backends.base import CallContext
from isthmus.backends.errors import (
    BackendError,
    BackendFailed,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from isthmus.deadline import call_timeout

_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")
# The app's request was refused: the status a REST backend would have answered (no fallback).
_REJECTED = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
}


def grpc_target(endpoint: str) -> tuple[str, bool]:
    """A canonical endpoint as (the ``host:port`` gRPC dials, TLS?): ``grpcs://h:1`` -> ("h:1", True)."""
    scheme, _, target = endpoint.partition("://")
    return target.rstrip("/"), scheme == "grpcs"


def channel_options(
    max_message_size: int,
    keepalive_time: float | None = None,
    keepalive_timeout: float | None = None,
    connect_timeout: float | None = None,
) -> list[tuple[str, Any]]:
    """Message limits both ways, keepalive pings while calls are open, a channel of its own
    (without a local subchannel pool, channels with equal arguments share one connection), and
    the limit on one connection attempt: gRPC core's connect deadline is the larger of its
    back-off and ``grpc.min_reconnect_backoff_ms`` (20 s by default), so a silent endpoint
    fails its calls fast (UNAVAILABLE, not sent) after ``connect_timeout`` instead of holding
    them to their deadline."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", max_message_size),
        ("grpc.max_receive_message_length", max_message_size),
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if connect_timeout is not None:
        options.append(("grpc.min_reconnect_backoff_ms", max(1, int(connect_timeout * 1000))))
    if keepalive_time is not None:
        options += [
            ("grpc.keepalive_time_ms", int(keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int((keepalive_timeout or 20.0) * 1000)),
            ("grpc.keepalive_permit_without_calls", 0),
        ]
    return options


def open_channel(endpoint: str, options: list[tuple[str, Any]]) -> grpc.aio.Channel:
    target, tls = grpc_target(endpoint)
    if tls:
        return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options)
    return grpc.aio.insecure_channel(target, options)


def call_metadata(ctx: CallContext) -> tuple[tuple[str, str], ...]:
    """The request id and forwarded headers as gRPC metadata (keys gRPC accepts; no binary or
    ``grpc-`` keys; the gateway's request id wins over a forwarded one)."""
    pairs = [("x-request-id", ctx.request_id)]
    for key, value in ctx.headers.items():
        k = key.lower()
        if _METADATA_KEY.match(k) and not k.startswith("grpc-") and not k.endswith("-bin") and k != "x-request-id":
            pairs.append((k, value))
    return tuple(pairs)


def call_deadline(backend: str, timeout: float) -> float:
    """Seconds the call may take: the backend's ``timeout``, or the app's remaining time when that
    is shorter (:mod:`isthmus.deadline`). The app already gone is a :class:`BackendTimeout`."""
    remaining = call_timeout(timeout)
    if remaining <= 0:
        raise BackendTimeout(backend, "the app's deadline passed before the call could be made")
    return remaining


def call_limit(backend: str, ctx: CallContext, timeout: float) -> float:
    """:func:`call_deadline` of the try: ``ctx.timeout`` when the upstream layer set one, else the
    backend's ``timeout``."""
    return call_deadline(backend, timeout if ctx.timeout is None else ctx.timeout)


# UNAVAILABLE details of a call that never left: gRPC core's words when no connection could be made.
_NOT_CONNECTED = ("failed to connect", "connection refused", "connect failed", "no route to host", "dns resolution failed")


def translate_error(backend: str, target: str, exc: grpc.aio.AioRpcError) -> BackendError:
    """A gRPC status from ``target`` as the backend layer's error (the one place gRPC codes are read):
    ``grpc_code`` names the status; an UNAVAILABLE whose details say no connection could be made is
    ``sent=False`` (gRPC core fails such calls before sending anything)."""
    code, details = exc.code(), exc.details() or ""
    if code in _REJECTED:
        return BackendRejected(backend, details or code.name, _REJECTED[code])
    message = f"{target}: {code.name}: {details}".rstrip(": ")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return BackendTimeout(backend, message)
    if code == grpc.StatusCode.UNAVAILABLE:
        lowered = details.lower()
        sent = not any(words in lowered for words in _NOT_CONNECTED)
        return BackendUnavailable(backend, message, sent=sent, grpc_code=code.name)
    if code == grpc.StatusCode.CANCELLED:
        return BackendUnavailable(backend, message, grpc_code=code.name)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" not in details:
        return BackendUnavailable(backend, message, grpc_code=code.name)  # busy: gRPC's HTTP 429
    # INTERNAL, UNKNOWN, UNIMPLEMENTED, a message over the size limit (RESOURCE_EXHAUSTED), ...
    return BackendFailed(backend, message, grpc_code=code.name)
