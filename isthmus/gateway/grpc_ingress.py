"""The gRPC ingress: ``inference.GRPCInferenceService`` (Open Inference Protocol V2) on grpc.aio.

ServerLive, ServerReady, ServerMetadata, ModelReady, ModelMetadata and ModelInfer, over the same
:class:`DataPlane` as REST, with the extensions ModelConfig, RepositoryIndex and ModelStatistics
(:mod:`isthmus.gateway.grpc_extensions`; every other method is a clean UNIMPLEMENTED), beside
``grpc.health.v1.Health`` and server reflection (:mod:`isthmus.gateway.grpc_health`) (routing, sticky / override keys, cache, coalescing, fallback). Request
metadata plays the part of HTTP headers (gRPC keys are lower-case; config header names match them
whatever their case). A ModelInfer answer carries ``x-isthmus-backend``, ``x-isthmus-cache`` and
``x-request-id`` as initial metadata; a failure carries ``x-isthmus-backend`` and ``x-request-id``
as trailing metadata, with the status from :func:`grpc_status`. The client's deadline bounds the
whole request and is handed to backends (:mod:`isthmus.deadline`). Under mTLS the client
certificate's subject, spelled as over REST (:mod:`isthmus.gateway.identity`), is the default cache tenant.

CPU: most of a call's cost is grpc.aio's own (each of a unary call's ~4 completion-queue events
reaches the event loop through its poller thread and a socketpair); the Python here is ~20 us.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, TypeVar

import grpc
from tritonclient.grpc import service_pb2_grpc

from isthmus import __version__
from isthmus.backends import BackendError, BackendFailed
from isthmus.codecs import CodecError, v2_grpc
from isthmus.codecs.convert import answer_id, response_tensors
from isthmus.codecs.v2_grpc import pb
from isthmus.config import ConfigError, ConfigIssue, TLSConfig
from isthmus.deadline import app_deadline
from isthmus.gateway.dataplane import Answer, DataPlane
from isthmus.gateway.extensions import EXTENSIONS
from isthmus.gateway.grpc_errors import AppDeadlineExceeded, grpc_status
from isthmus.gateway.grpc_extensions import ExtensionServicer
from isthmus.gateway.grpc_health import GatewayHealth, serve_health_and_reflection
from isthmus.gateway.headers import BACKEND_HEADER, CACHE_HEADER, NO_BACKEND, REQUEST_ID_HEADER, request_id
from isthmus.gateway.http_types import Headers
from isthmus.gateway.identity import SubjectMemo
from isthmus.gateway.request_meta import RequestMeta, request_meta
from isthmus.gateway.request_telemetry import MODEL_INFER, GrpcCallTelemetry, Rpc
from isthmus.telemetry import Telemetry
from isthmus.telemetry.kinds import model_label

log = logging.getLogger(__name__)
T = TypeVar("T")


def metadata_headers(metadata: Iterable[Any] | None) -> Headers:
    """Invocation metadata as headers: text keys only (``-bin`` values are bytes), repeats joined by ', '."""
    headers = Headers()
    for key, value in metadata or ():
        if key.endswith("-bin") or not isinstance(value, str):
            continue
        key = key.lower()
        headers[key] = f"{dict.get(headers, key)}, {value}" if key in headers else value
    return headers


#: The full names of the services on the listener besides health and reflection (listed by reflection).
SERVICES = ("inference.GRPCInferenceService",)


class InferenceServicer(ExtensionServicer):
    """The V2 services Isthmus answers; the others (load/unload, shared memory, ...) are UNIMPLEMENTED."""

    def __init__(self, dataplane: DataPlane, mtls: bool = False, calls: GrpcCallTelemetry | None = None):
        self._dp = dataplane
        # ModelInfer's measurement, span and access log line (``calls.in_flight`` is a gauge)
        self.calls = calls if calls is not None else GrpcCallTelemetry(dataplane.telemetry)
        self._mtls = mtls
        self._subjects = SubjectMemo()

    def client_identity(self, context: Any) -> str | None:
        """Under mTLS, the verified client certificate's subject (the default cache tenant), spelled
        as the REST listener spells it (:mod:`isthmus.gateway.identity`); else None."""
        if not self._mtls:
            return None
        pem = context.auth_context().get("x509_pem_cert")
        return self._subjects.of_pem(pem[0]) if pem else None

    def request_meta(
        self, headers: Headers, model: str, rid: str, context: Any, version: str | None = None, variant: str | None = None
    ) -> RequestMeta:
        """The call's metadata (:mod:`isthmus.gateway.request_meta`), with the client's deadline."""
        tenant_header = self._dp.tenant_header
        identity = self.client_identity(context) if tenant_header is None else None
        return request_meta(
            headers, model, rid, version=version, variant=variant, identity=identity, tenant_header=tenant_header,
            deadline=context.time_remaining(),  # None: the client set no deadline
        )  # fmt: skip

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._dp.configured)

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Any) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="isthmus", version=__version__, extensions=EXTENSIONS)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        ready = await self.guarded(context, lambda: self._dp.model_ready(request.name, request.version or None))
        return pb.ModelReadyResponse(ready=ready)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        doc = await self.guarded(context, lambda: self._dp.model_metadata(request.name, request.version or None))
        return v2_grpc.metadata_to_pb(doc)

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        return await self.answered(request.model_name, context, lambda h, rid: self._infer(request, h, rid, context))

    async def answered(
        self,
        model: str,
        context: Any,
        work: Callable[[Headers, str], Awaitable[tuple[Answer, T]]],
        method: Rpc = MODEL_INFER,
    ) -> T:
        """One inference RPC of any service on this listener: the metadata as headers and the request
        id from them, ``work(headers, rid)`` measured as ``method`` of ``model``, its errors as the
        RPC's status (:meth:`guarded`), the answer's backend, cache state and request id as initial
        metadata."""
        headers = metadata_headers(context.invocation_metadata())
        rid = request_id(headers)
        label = model_label(model, self._dp.routes)
        measured = lambda: self.calls.measure(label, headers, rid, context, lambda: work(headers, rid), method)  # noqa: E731
        answer, reply = await self.guarded(context, measured, rid)
        await context.send_initial_metadata(
            ((BACKEND_HEADER, answer.backend), (CACHE_HEADER, answer.cache), (REQUEST_ID_HEADER, rid))
        )
        return reply

    @staticmethod
    async def within_deadline(call: Awaitable[T], remaining: float | None) -> T:
        """``call`` bounded by the client's deadline (``RequestMeta.deadline``) when it set one
        (backends see it too)."""
        return await (call if remaining is None else _within(call, remaining))

    async def _infer(
        self, request: pb.ModelInferRequest, headers: Headers, rid: str, context: Any
    ) -> tuple[Answer, pb.ModelInferResponse]:
        model = request.model_name
        if not model:
            raise CodecError("model_name is required")
        self._dp.route(model)  # an unknown model is NOT_FOUND whatever the tensors
        decoded = v2_grpc.decode_request(request)
        meta = self.request_meta(headers, model, rid, context, request.model_version or None)
        answer = await self.within_deadline(self._dp.infer(decoded, meta), meta.deadline)
        try:
            outputs = response_tensors(answer.response)
            rid_out = answer_id(decoded.id, answer.response, answer.cache == "hit")
            reply = v2_grpc.encode_response(outputs, model, answer.version, rid_out, answer.response.parameters)
        except CodecError as exc:  # the backend's answer cannot be a V2 gRPC answer: its fault
            raise BackendFailed(answer.backend, f"answer cannot be translated: {exc}") from None
        return answer, reply

    async def guarded(self, context: Any, call: Callable[[], Awaitable[T]], rid: str | None = None) -> T:
        """Run ``call``; any error ends the RPC with its status, the backend and request id as trailers."""
        try:
            return await call()
        except Exception as exc:  # noqa: BLE001 - every error becomes a status here, the edge
            mapped = grpc_status(exc)
            backend = exc.backend if isinstance(exc, BackendError) else NO_BACKEND
            if mapped is None:
                log.exception("gRPC request %s: unexpected error", rid)
                mapped = grpc.StatusCode.INTERNAL, f"internal error (request id {rid})"
        trailers = [(BACKEND_HEADER, backend)]
        if rid is not None:
            trailers.append((REQUEST_ID_HEADER, rid))
        context.set_trailing_metadata(trailers)
        await context.abort(*mapped)
        raise AssertionError("abort() returned")  # pragma: no cover


async def _within(call: Awaitable[T], remaining: float) -> T:
    """``call`` bounded by the client's deadline, which backends see too (:func:`app_deadline`)."""
    limit = asyncio.timeout(remaining)
    try:
        with app_deadline(remaining):
            async with limit:
                return await call
    except TimeoutError:
        if not limit.expired():
            raise  # a timeout inside the call is its own error, not the app's deadline
        raise AppDeadlineExceeded(f"the client's deadline ({remaining:.3g}s) passed before a backend answered") from None


class GrpcIngress:
    """The gRPC listener. ``start`` returns the bound port; ``stop`` lets calls in flight finish."""

    def __init__(self, dataplane: DataPlane, max_message_size: int, telemetry: Telemetry | None = None):
        self._dataplane = dataplane
        self.calls = GrpcCallTelemetry(telemetry if telemetry is not None else dataplane.telemetry)
        self._max_message_size = max_message_size
        self._server: grpc.aio.Server | None = None
        self.health: GatewayHealth | None = None

    async def start(self, host: str, port: int, tls: TLSConfig | None = None, source: str = "config") -> int:
        credentials = server_credentials(tls, source) if tls is not None else None
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 0),  # a port in use is an error, never shared
                ("grpc.max_receive_message_length", self._max_message_size),
                ("grpc.max_send_message_length", -1),
                # Clients ping while calls are open (Isthmus's own backends every 30 s by default).
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ]
        )
        mtls = tls is not None and tls.client_ca is not None
        v2 = InferenceServicer(self._dataplane, mtls, self.calls)
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(v2, server)
        from isthmus.gateway import grpc_tfserving  # imports this module: loaded once the listener starts

        grpc_tfserving.add_to_server(v2, server)  # TF Serving's PredictionService and ModelService
        self.health = serve_health_and_reflection(
            server, self._dataplane, (*SERVICES, *grpc_tfserving.SERVICES), pools=(grpc_tfserving.POOL,)
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot bind the gRPC listener to {address}: {exc}") from None
        if not bound:
            raise OSError(f"cannot bind the gRPC listener to {address}")
        await server.start()
        self._server = server
        return bound

    async def stop(self, grace: float = 5.0) -> None:
        server, self._server = self._server, None
        if self.health is not None:
            self.health.drain()  # NOT_SERVING to watchers, whose streams end before the grace period
        if server is not None:
            await server.stop(grace)


def server_credentials(tls: TLSConfig, source: str = "config") -> grpc.ServerCredentials:
    """The listener's TLS settings for gRPC: ``client_ca`` makes client certificates mandatory (mTLS).

    gRPC negotiates TLS 1.2 or 1.3 and has no Python setting for a minimum: ``min_version: "1.3"``
    is not enforced on the gRPC listener (a warning says so).
    """

    def read(path: str, field: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError([ConfigIssue(source, None, f"listener.tls.{field}", f"cannot read: {exc}")]) from None

    if tls.min_version == "1.3":
        log.warning("listener.tls.min_version 1.3 is not enforced on the gRPC listener (gRPC accepts TLS 1.2 too)")
    ca = read(tls.client_ca, "client_ca") if tls.client_ca else None
    return grpc.ssl_server_credentials(
        [(read(tls.key, "key"), read(tls.cert, "cert"))], root_certificates=ca, require_client_auth=ca is not None
    )
