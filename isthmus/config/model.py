"""The config file's schema, as frozen pydantic models (``isthmus schema`` prints it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, model_validator

from isthmus.common.json_pointers import check_json, parse_pointer, request_targets, response_sources
from isthmus.config.admission import LoadSheddingConfig, ShutdownConfig
from isthmus.config.resilience import HedgingConfig, ResilienceConfig
from isthmus.config.units import ByteSize, Duration

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
HEADER_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]
HeaderName = Annotated[str, Field(pattern=HEADER_PATTERN, max_length=128)]
Datatype = Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                   "FP16", "FP32", "FP64", "BYTES"]  # fmt: skip


def _resolve(value: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base_dir")
    p = Path(value).expanduser()
    return str(p if p.is_absolute() or base is None else Path(base) / p)


FilePath = Annotated[str, Field(min_length=1), AfterValidator(_resolve)]

ADDRESS_PATTERN = r"^(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):\d{1,5}$"


def _port_in_range(value: str) -> str:
    if int(value.rsplit(":", 1)[1]) > 65535:
        raise ValueError(f"port out of range (0-65535) in {value!r}")
    return value


#: ``host:port`` to bind (IPv6 in brackets), the port 0-65535.
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN), AfterValidator(_port_in_range)]


class _Bound:
    """``host`` and ``port`` of a model's ``address``."""

    address: str

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TLSConfig(_Frozen):
    """TLS termination. Setting ``client_ca`` makes client certificates mandatory (mTLS)."""

    cert: FilePath = Field(description="PEM certificate chain of the listener")
    key: FilePath = Field(description="PEM private key of the listener")
    client_ca: FilePath | None = Field(None, description="PEM CA bundle; when set, clients must present a cert it signed")
    min_version: Literal["1.2", "1.3"] = Field("1.2", description="lowest TLS version accepted")


class ListenerConfig(_Bound, _Frozen):
    address: Address = Field("0.0.0.0:8080", description="host:port to bind")
    tls: TLSConfig | None = None
    grpc_address: Address | None = Field(
        None,
        description="host:port of the Open Inference Protocol V2 gRPC listener (off when unset); same TLS",
    )
    max_body_size: ByteSize = Field(16 * 2**20, description="largest request body accepted (default 16MiB)")
    load_shedding: LoadSheddingConfig = LoadSheddingConfig()
    shutdown: ShutdownConfig = ShutdownConfig()


class TensorNamingConfig(_Frozen):
    """Names/datatype used when translating name-less JSON (V1 instances, TF rows, Ray) to V2 tensors."""

    input_name: str = "input-0"
    output_name: str = "output-0"
    datatype: Datatype = "FP32"


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _tensor_name(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("tensor names cannot contain control characters")
    return value


TensorName = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_tensor_name)]


class TensorSpec(_Frozen):
    """One input or output of a backend's model, as V2 model metadata describes it."""

    name: TensorName
    datatype: Datatype
    shape: list[Annotated[StrictInt, Field(ge=-1)]] = Field(description="dimensions; -1 for a dynamic one (the batch)")


class _HttpBackend(ResilienceConfig):
    """A remote backend: a cluster of endpoints with the upstream settings of
    :class:`isthmus.config.resilience.ResilienceConfig` (load balancing, health, retries ...)."""

    name: Name
    endpoints: list[str] = Field(min_length=1, description="base URLs; several are load-balanced (load_balancer)")
    model: str | None = Field(None, description="model name on the backend (default: the route's public name)")
    version: str | None = Field(None, description="model version on the backend (default: none/latest)")
    timeout: Duration = Field(10.0, description="per-request timeout, every retry and hedge included")
    max_connections: int = Field(100, gt=0, description="connection pool size per endpoint")
    tensors: TensorNamingConfig = TensorNamingConfig()
    inputs: list[TensorSpec] | None = Field(
        None,
        min_length=1,
        description="the model's inputs, for model metadata and to refuse unknown input names before a call "
        "(used when the backend's protocol has no metadata, or it gives none)",
    )
    outputs: list[TensorSpec] | None = Field(None, min_length=1, description="the model's outputs, for model metadata")


class _RestBackend(_HttpBackend):
    max_response_size: ByteSize = Field(
        64 * 2**20, description="largest answer body accepted (default 64MiB); a larger one is a 502"
    )


class KServeBackendConfig(_RestBackend):
    protocol: Literal["kserve-v1", "kserve-v2"]
    binary_inputs: bool = Field(
        False,
        description="kserve-v2: send input tensors as binary tensor data (KServe, Triton; MLServer refuses it)",
    )


GRPC_ENDPOINT_HELP = "grpc://host:port, grpcs://host:port (TLS, system roots) or host:port; several are used round-robin"
_GRPC_SCHEMES = {"grpc": False, "grpcs": True, "http": False, "https": True}  # -> TLS; http(s) for compatibility


def grpc_endpoint(value: str) -> str:
    """A gRPC backend endpoint in canonical form, ``grpc://host:port`` (plaintext) or ``grpcs://host:port``
    (TLS). Accepts those, ``host:port``, and ``http://`` / ``https://`` (the older kserve-v2-grpc
    spelling; only these default the port, to 80 / 443). :class:`ValueError` says what is wrong."""
    parts = urlsplit(value if "://" in value else f"grpc://{value}")
    port = parts.port  # ValueError when not a number in 0-65535
    scheme = parts.scheme.lower()
    if scheme not in _GRPC_SCHEMES:
        raise ValueError(f"give grpc://host:port, grpcs://host:port or host:port (scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError("no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("only a host and a port: no path, query or user")
    if port is None:
        if scheme not in ("http", "https"):
            raise ValueError("a port is required (TF Serving's gRPC port is usually 8500, KServe's 8081, Triton's 8001)")
        port = 443 if scheme == "https" else 80
    if port == 0:
        raise ValueError("port 0")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{'grpcs' if _GRPC_SCHEMES[scheme] else 'grpc'}://{host}:{port}"


def _grpc_target(value: str) -> str:
    """The endpoint in canonical form; left as written when malformed (config.checks names the problem)."""
    try:
        return grpc_endpoint(value)
    except ValueError:
        return value


GrpcEndpoint = Annotated[str, AfterValidator(_grpc_target)]


class KServeGrpcBackendConfig(_HttpBackend):
    """Open Inference Protocol V2 over gRPC (KServe, MLServer, Triton); ``max_connections`` is not used.
    Endpoints as for tfserving-grpc (:func:`grpc_endpoint`); http:// and https:// are still accepted."""

    protocol: Literal["kserve-v2-grpc"]
    endpoints: list[GrpcEndpoint] = Field(min_length=1, description=GRPC_ENDPOINT_HELP)
    channels: int = Field(2, gt=0, le=64, description="gRPC channels (HTTP/2 connections) per endpoint")
    keepalive_time: Duration = Field(30.0, description="interval of HTTP/2 keepalive pings while calls are open")
    keepalive_timeout: Duration = Field(10.0, description="a ping unanswered this long closes the connection")
    max_message_size: ByteSize = Field(64 * 2**20, description="largest gRPC message sent or received")


class TFServingBackendConfig(_RestBackend):
    protocol: Literal["tfserving"]
    format: Literal["row", "columnar"] = Field("row", description="request format: instances (row) or inputs")
    signature_name: str | None = None


class TFServingGrpcBackendConfig(_HttpBackend):
    """TensorFlow Serving's gRPC API (PredictionService/Predict, usually port 8500); ``max_connections``
    is not used. Endpoints: :func:`grpc_endpoint`."""

    protocol: Literal["tfserving-grpc"]
    endpoints: list[GrpcEndpoint] = Field(min_length=1, description=GRPC_ENDPOINT_HELP)
    signature_name: str | None = Field(None, description="SignatureDef to run (default: serving_default)")


def _json_pointer(value: str) -> str:
    parse_pointer(value)  # MappingError (a ValueError) names what is wrong
    return value


def _json_value(value: Any) -> Any:
    check_json(value)
    return value


#: An RFC 6901 JSON pointer: ``""`` (the whole document) or ``/key/0/key`` (``~1`` for ``/``, ``~0`` for ``~``).
JsonPointer = Annotated[str, AfterValidator(_json_pointer)]
TensorName = Annotated[str, Field(min_length=1, max_length=256)]


class RequestMappingConfig(_Frozen):
    """The JSON body sent to a free-form JSON backend: ``body`` with each input tensor (as a nested
    list) placed at its JSON pointer. Missing objects on a pointer's way are created; ``/list/-``
    appends to an array of the body."""

    body: Annotated[Any, AfterValidator(_json_value)] = Field(
        default_factory=dict, description="the body's fixed part, a JSON template (default {})"
    )
    inputs: dict[TensorName, JsonPointer] = Field(
        description='input tensor name -> JSON pointer into the body ("" = the whole body)'
    )

    @model_validator(mode="after")
    def _compiles(self) -> RequestMappingConfig:
        request_targets(self.body, self.inputs)  # pointers that collide or do not fit the template
        return self


class ResponseMappingConfig(_Frozen):
    """Where the outputs are in a free-form JSON backend's answer."""

    outputs: dict[TensorName, JsonPointer] = Field(
        description='output tensor name -> JSON pointer into the answer ("" = the whole answer)'
    )

    @model_validator(mode="after")
    def _compiles(self) -> ResponseMappingConfig:
        response_sources(self.outputs)
        return self


class _JsonBackend(_RestBackend):
    """A backend answering free-form JSON: mapped by ``request`` / ``response``, else V1 instances/predictions."""

    request: RequestMappingConfig | None = Field(
        None, description='where the inputs go in the body sent (default: {"instances": [...]})'
    )
    response: ResponseMappingConfig | None = Field(
        None, description='where the outputs are in the answer (default: {"predictions": [...]})'
    )


class RayServeBackendConfig(_JsonBackend):
    protocol: Literal["ray-serve"]
    route_prefix: str | None = Field(None, pattern=r"^/", description="Serve route prefix (default: /<model>)")


class HttpJsonBackendConfig(_JsonBackend):
    """Any model that takes and answers JSON over HTTP: ``POST path`` with the mapped body."""

    protocol: Literal["http-json"]
    path: str = Field(
        pattern=r"^/[^\s#]*$", description="path the request is POSTed to; {model} becomes the backend's model name"
    )
    ready_path: str | None = Field(
        None, pattern=r"^/[^\s#]*$",
        description="GET path that answers 2xx when the model is ready (default: ready while the server answers HTTP)",
    )


class OnnxBackendConfig(_Frozen):
    name: Name
    protocol: Literal["onnx"]
    model_path: FilePath = Field(description=".onnx file, relative to the config file")
    device: Literal["auto", "cpu", "cuda", "tensorrt"] = "auto"
    threads: int = Field(0, ge=0, description="intra-op threads (0: onnxruntime's default)")
    workers: int = Field(1, gt=0, description="inference calls run at once, off the event loop")
    max_queue: int = Field(256, gt=0, description="calls waiting for a worker before more are refused (503)")
    timeout: Duration = 10.0
    warmup: bool = True
    version: str | None = None
    tensors: TensorNamingConfig = TensorNamingConfig()


HttpBackendConfig = Union[KServeBackendConfig, TFServingBackendConfig, RayServeBackendConfig, HttpJsonBackendConfig]
BackendConfig = Annotated[
    Union[KServeBackendConfig, KServeGrpcBackendConfig, TFServingBackendConfig, TFServingGrpcBackendConfig,
          RayServeBackendConfig, HttpJsonBackendConfig, OnnxBackendConfig],
    Field(discriminator="protocol"),
]


class VariantConfig(_Frozen):
    backend: Name
    weight: int = Field(ge=0, description="relative share of traffic; any non-negative integer")
    version: str | None = Field(None, description="public version label (default: the backend's version)")


class RouteCacheConfig(_Frozen):
    """Per-route result caching and coalescing (off unless ``enabled``)."""

    enabled: bool = False
    ttl: Duration = Field(60.0, description="how long an answer is served from the cache")
    max_entry_size: ByteSize = Field(2**20, description="answers larger than this are not stored")
    coalesce: bool = Field(True, description="identical in-flight requests share one backend call")


class RouteConfig(_Frozen):
    model: Name = Field(description="public model name apps call")
    variants: list[VariantConfig] = Field(min_length=1)
    sticky_header: HeaderName | None = Field(None, description="header whose value keeps a user on one variant")
    override_header: HeaderName | None = Field(None, description="header naming a variant (backend) to pin")
    fallback: Name | None = Field(
        None, description="backend used when the chosen one fails: tries exhausted, breaker open, no endpoint usable"
    )
    cache: RouteCacheConfig = RouteCacheConfig()
    idempotent: bool = Field(
        True,
        description="inference is retried and hedged as an idempotent call; false retries only connections "
        "that failed before anything was sent, and never hedges",
    )
    hedging: HedgingConfig | None = Field(None, description="hedged tries to another endpoint (off unless given)")


class RedisConfig(_Frozen):
    """The shared L2 cache. Give one of ``url``, ``cluster_nodes`` or ``sentinels``."""

    url: str | None = Field(None, pattern=r"^rediss?://", description="standalone server, redis://host:port/db")
    cluster_nodes: list[str] = Field(default_factory=list, description="Redis Cluster startup nodes, host:port")
    sentinels: list[str] = Field(default_factory=list, description="Sentinel addresses, host:port")
    sentinel_service: str | None = Field(None, description="the master's name in Sentinel")
    timeout: Duration = Field(
        0.01, description="per-command limit, event-loop delay included; slower answers count as a miss"
    )
    max_connections: int = Field(64, gt=0, description="connection pool size (callers wait for a free one)")
    distributed_coalescing: bool = Field(False, description="one backend call per key across all replicas")
    lock_ttl: Duration = Field(5.0, description="longest a crashed lock holder can delay the others")


class CacheConfig(_Frozen):
    memory_max_bytes: ByteSize = Field(64 * 2**20, description="L1 in-process cache size")
    redis: RedisConfig | None = None
    tenant_header: HeaderName | None = Field(
        None, description="header naming the tenant (else the client certificate's subject under mTLS)"
    )


OtlpEndpoint = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=2048)]


class OtlpExport(_Frozen):
    """Where an OTLP exporter sends (off while ``otlp_endpoint`` is unset)."""

    otlp_endpoint: OtlpEndpoint | None = Field(
        None,
        description="collector URL: grpc http://host:4317 (https:// for TLS); http http://host:4318 "
        "(the signal's path /v1/traces or /v1/metrics is appended unless the URL has a path)",
    )
    protocol: Literal["grpc", "http"] = Field("grpc", description="OTLP over gRPC or HTTP/protobuf")
    headers: dict[HeaderName, str] = Field(default_factory=dict, description="sent with every export (secrets)")
    timeout: Duration = Field(10.0, description="per-export time limit")


class TracingConfig(OtlpExport):
    """Traces: off (zero cost) unless ``otlp_endpoint`` is set."""

    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="share of new traces sampled (parent-based)")


class MetricsConfig(OtlpExport):
    """OTLP metrics push (Prometheus is always scrapeable on the admin port)."""

    export_interval: Duration = Field(60.0, description="how often metrics are pushed over OTLP")


def _log_path(value: str, info: ValidationInfo) -> str:
    return value if value == "-" else _resolve(value, info)


class AccessLogConfig(_Frozen):
    """One JSON line per request."""

    enabled: bool = False
    path: Annotated[str, Field(min_length=1), AfterValidator(_log_path)] = Field(
        "-", description='"-" for standard output, else a file (appended to), relative to the config file'
    )


class AdminConfig(_Bound, _Frozen):
    """The admin API (/ready, /live, /metrics, /config_dump): a separate port, local by default."""

    address: Address = Field("127.0.0.1:9901", description="host:port to bind")


class TelemetryConfig(_Frozen):
    """Traces, metrics, the access log and the admin port. Local to each gateway (never from xDS)."""

    service_name: str = Field("isthmus", min_length=1, description="OTel resource service.name")
    tracing: TracingConfig = TracingConfig()
    metrics: MetricsConfig = MetricsConfig()
    access_log: AccessLogConfig = AccessLogConfig()
    admin: AdminConfig = AdminConfig()


class Config(_Frozen):
    listener: ListenerConfig = ListenerConfig()
    cache: CacheConfig = CacheConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    backends: list[BackendConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)

    def backend(self, name: str) -> BackendConfig:
        for b in self.backends:
            if b.name == name:
                return b
        raise KeyError(name)
