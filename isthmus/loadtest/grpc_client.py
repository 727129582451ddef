"""The load tester's gRPC transport: V2 ``ModelInfer`` unary calls over N ``grpc.aio`` channels.

Requests are serialised ``ModelInferRequest`` messages (built by the workload before the clock
starts) sent with no serializer, and answers are kept as bytes and never parsed: only the status
code and the ``x-isthmus-backend`` initial metadata are read. Each channel is its own HTTP/2
connection (a distinct channel argument stops grpc from sharing one subchannel among them) and
carries up to ``streams`` calls at once; requests go to the channels round-robin.

It implements the engine's ``Transport`` protocol. ``on_done(token, status, backend, error)`` is
called exactly once per request, with status 200 for ``OK`` and otherwise an error kind:
``timeout`` (the client's deadline passed), ``connect`` (the channel could not connect, or lost
its connection before the answer), or ``grpc_<CODE>`` for any status the server sent
(``grpc_UNAVAILABLE``, ``grpc_DEADLINE_EXCEEDED`` when the server gave up well before the
client's deadline, ...).

The status and metadata are read in the call's done callback from grpc.aio's call object
(``call._cython_call._status`` / ``._initial_metadata``, which ``UnaryUnaryCall.__await__`` itself
reads): awaiting each call in a task of its own would cost a second task per request.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import grpc

from isthmus.loadtest.errors import LoadTestError
from isthmus.loadtest.workload import Request

METHOD = "/inference.GRPCInferenceService/ModelInfer"
BACKEND_KEY = "x-isthmus-backend"
STREAMS_PER_CHANNEL = 100  # the usual HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
DoneCallback = Callable[[object, int, "str | None", "str | None"], None]
Prepared = tuple[bytes, "tuple[tuple[str, str], ...] | None"]

_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
_OK = grpc.StatusCode.OK.value[0]
_DEADLINE = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
_UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
_READY = grpc.ChannelConnectivity.READY


class GrpcTargetError(LoadTestError, ValueError):
    """A grpc:// target the transport cannot send to."""


@dataclass(frozen=True)
class GrpcTarget:
    scheme: str  # grpc or grpcs
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(url: str) -> GrpcTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("grpc", "grpcs") or not parts.hostname:
        raise GrpcTargetError(f"target must be a grpc:// or grpcs:// URL with a host, got {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise GrpcTargetError(f"bad port in {url!r}") from exc
    if port is None:
        raise GrpcTargetError(f"a gRPC target needs a port, e.g. grpc://{parts.hostname}:8081")
    if parts.path not in ("", "/") or parts.query:
        raise GrpcTargetError(f"a gRPC target has no path or query (the method is {METHOD}), got {url!r}")
    return GrpcTarget(parts.scheme, parts.hostname, port)


def channel_credentials(target: GrpcTarget, *, insecure: bool = False, cacert: str | None = None,
                        timeout_s: float = 5.0) -> tuple[grpc.ChannelCredentials, list[tuple[str, Any]]]:
    """TLS credentials (and channel options) for a grpcs:// target.

    grpc cannot skip verification, so ``insecure`` fetches the server's certificate once and
    trusts it, with the TLS host name taken from the certificate: this works for a self-signed
    server certificate and, with BoringSSL, for a leaf signed by an unknown CA.
    """
    if not insecure:
        try:
            roots = open(cacert, "rb").read() if cacert else None
        except OSError as exc:
            raise GrpcTargetError(f"cannot read --cacert {cacert}: {exc.strerror}") from exc
        return grpc.ssl_channel_credentials(root_certificates=roots), []
    try:
        pem = ssl.get_server_certificate((target.host, target.port), timeout=timeout_s)
    except (OSError, ssl.SSLError) as exc:
        raise GrpcTargetError(f"--insecure: cannot fetch the certificate of {target.address}: {exc}") from exc
    options: list[tuple[str, Any]] = []
    name = _certificate_name(pem)
    if name:
        options.append(("grpc.ssl_target_name_override", name))
    return grpc.ssl_channel_credentials(root_certificates=pem.encode()), options


def _certificate_name(pem: str) -> str | None:
    """A DNS name (else an IP, else the CN) the certificate is valid for."""
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography comes with the TLS dependencies
        return None
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]
        if names:
            return names[0]
    except x509.ExtensionNotFound:
        pass
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else None


class GrpcTransport:
    """``connections`` channels to one target; a per-call deadline of ``timeout_s``."""

    def __init__(
        self,
        url: str,
        *,
        connections: int,
        timeout_s: float,
        insecure: bool = False,
        cacert: str | None = None,
        streams: int = STREAMS_PER_CHANNEL,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.target = parse_target(url)
        self.channel_count = connections
        self.slots = connections * streams
        self.timeout_s = timeout_s
        self.insecure = insecure
        self.cacert = cacert
        self._clock = clock
        self._on_done: DoneCallback | None = None
        self._channels: list[grpc.aio.Channel] = []
        self._calls: list[Any] = []
        self._next = 0
        self._inflight: dict[Any, tuple[object, float, int]] = {}

    def prepare(self, request: Request) -> Prepared:
        """The serialised message (the workload's body) and the metadata (keys lower-cased, as gRPC requires)."""
        metadata = tuple((k.lower(), v) for k, v in request.headers)
        return request.body, metadata or None

    def _open(self, index: int) -> grpc.aio.Channel:
        options: list[tuple[str, Any]] = [
            ("isthmus.loadtest.channel", index),  # distinct args: a connection of its own
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_reconnect_backoff_ms", 1000),  # a restarted server is found again within 1 s
            ("grpc.enable_retries", 0),  # every request is sent once, as over HTTP
        ]
        if self.target.scheme == "grpcs":
            credentials, extra = self._credentials
            return grpc.aio.secure_channel(self.target.address, credentials, options=options + extra)
        return grpc.aio.insecure_channel(self.target.address, options=options)

    async def start(self, on_done: DoneCallback) -> None:
        """Open the channels and let each connect (or fail to) within the timeout; failures are
        left for the first requests to report, as ``connect``."""
        self._on_done = on_done
        if self.target.scheme == "grpcs":
            loop = asyncio.get_running_loop()
            self._credentials = await loop.run_in_executor(
                None, lambda: channel_credentials(self.target, insecure=self.insecure, cacert=self.cacert,
                                                  timeout_s=self.timeout_s))
        self._channels = [self._open(i) for i in range(self.channel_count)]
        self._calls = [ch.unary_unary(METHOD) for ch in self._channels]  # no (de)serializer: bytes both ways
        await asyncio.gather(*(self._warm(ch) for ch in self._channels))

    async def _warm(self, channel: grpc.aio.Channel) -> None:
        settled = (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                   grpc.ChannelConnectivity.SHUTDOWN)

        async def settle() -> None:
            state = channel.get_state(try_to_connect=True)
            while state not in settled:
                await channel.wait_for_state_change(state)
                state = channel.get_state(try_to_connect=True)

        try:
            await asyncio.wait_for(settle(), self.timeout_s)
        except asyncio.TimeoutError:
            pass

    def send(self, prepared: Prepared, token: object) -> None:
        index = self._next
        self._next = index + 1 if index + 1 < self.channel_count else 0
        body, metadata = prepared
        now = self._clock()
        call = self._calls[index](body, timeout=self.timeout_s, metadata=metadata)
        self._inflight[call] = (token, now, index)
        call.add_done_callback(self._finished)

    def _finished(self, call: Any) -> None:
        entry = self._inflight.pop(call, None)
        if entry is None:
            return  # aborted: already reported
        token, started, index = entry
        assert self._on_done is not None
        cython_call = call._cython_call
        status = cython_call._status
        code = status.code() if status is not None else -1
        if code == _OK:
            backend = None
            for key, value in cython_call._initial_metadata or ():
                if key == BACKEND_KEY:
                    backend = value if isinstance(value, str) else value.decode("latin-1")
                    break
            self._on_done(token, 200, backend, None)
            return
        self._on_done(token, 0, None, self._error_kind(code, status, started, index))

    def _error_kind(self, code: int, status: Any, started: float, index: int) -> str:
        connected = self._channels[index].get_state() == _READY
        if code == _DEADLINE:
            if not connected:
                return "connect"  # still connecting when the deadline passed
            if self._clock() - started >= 0.95 * self.timeout_s:
                return "timeout"
            return "grpc_DEADLINE_EXCEEDED"  # the server's own deadline, well before ours
        if code == _UNAVAILABLE:
            details = status.details() or ""
            if not connected or details.startswith("failed to connect"):
                return "connect"
        return f"grpc_{_CODE_NAMES.get(code, code)}"

    def abort_all(self, error: str = "timeout") -> None:
        """Fail every request in flight now (the end of a run's grace period)."""
        inflight, self._inflight = self._inflight, {}
        assert self._on_done is not None
        for call, (token, _, _) in inflight.items():
            self._on_done(token, 0, None, error)
            call.cancel()

    async def close(self) -> None:
        for call in list(self._inflight):
            call.cancel()
        self._inflight = {}
        await asyncio.gather(*(ch.close() for ch in self._channels), return_exceptions=True)
        self._channels, self._calls = [], []
