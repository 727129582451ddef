"""Build a backend client from its config."""

from __future__ import annotations

from isthmus.backends.base import Backend
from isthmus.backends.http_json import HttpJsonBackend
from isthmus.backends.kserve_v1 import KServeV1Backend
from isthmus.backends.kserve_v2 import KServeV2Backend
from isthmus.backends.onnx_local import OnnxBackend
from isthmus.backends.ray_serve import RayServeBackend
from isthmus.backends.tfserving_grpc import TFServingGrpcBackend
from isthmus.backends.tfserving_rest import TFServingBackend
from isthmus.config import BackendConfig, Config


def build_backend(config: BackendConfig) -> Backend:
    match config.protocol:
        case "kserve-v1":
            return KServeV1Backend(config)
        case "kserve-v2":
            return KServeV2Backend(config)
        case "kserve-v2-grpc":
            # Imported here: tritonclient's stubs cost ~0.4 s, paid only by configs that use gRPC.
            from isthmus.backends.kserve_v2_grpc import KServeV2GrpcBackend

            return KServeV2GrpcBackend(config)
        case "tfserving":
            return TFServingBackend(config)
        case "tfserving-grpc":
            return TFServingGrpcBackend(config)
        case "ray-serve":
            return RayServeBackend(config)
        case "http-json":
            return HttpJsonBackend(config)
        case "onnx":
            return OnnxBackend(config)
    raise ValueError(f"unknown protocol {config.protocol!r}")


def build_backends(config: Config) -> dict[str, Backend]:
    return {b.name: build_backend(b) for b in config.backends}
