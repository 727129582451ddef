"""The gRPC side of the extensions: ``ModelConfig``, ``RepositoryIndex`` and ``ModelStatistics``
of ``inference.GRPCInferenceService`` (tritonclient's service_pb2 messages, from the documents of
:mod:`isthmus.gateway.extensions`), and a clean UNIMPLEMENTED, with a message saying why, for
every other method the gateway does not serve. (The generated base class raises
``NotImplementedError`` instead, which grpc.aio logs as an ERROR with a traceback.)
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar

import grpc
from google.protobuf import json_format
from tritonclient.grpc import service_pb2_grpc

from isthmus.codecs.v2_grpc import pb
from isthmus.gateway import extensions
from isthmus.gateway.dataplane import DataPlane

T = TypeVar("T")

#: The methods of inference.GRPCInferenceService the gateway does not serve, and why.
UNIMPLEMENTED = {
    "ModelStreamInfer": "streaming inference is not supported by Isthmus; use ModelInfer",
    "RepositoryModelLoad": "Isthmus has no model repository: models are the routes of its traffic config "
    "(change the config file or the xDS control plane)",
    "RepositoryModelUnload": "Isthmus has no model repository: models are the routes of its traffic config "
    "(change the config file or the xDS control plane)",
    "SystemSharedMemoryStatus": "shared memory is not supported by Isthmus (a gateway is not on the client's host)",
    "SystemSharedMemoryRegister": "shared memory is not supported by Isthmus (a gateway is not on the client's host)",
    "SystemSharedMemoryUnregister": "shared memory is not supported by Isthmus (a gateway is not on the client's host)",
    "CudaSharedMemoryStatus": "CUDA shared memory is not supported by Isthmus",
    "CudaSharedMemoryRegister": "CUDA shared memory is not supported by Isthmus",
    "CudaSharedMemoryUnregister": "CUDA shared memory is not supported by Isthmus",
    "TraceSetting": "Isthmus traces with OpenTelemetry, configured in its traffic config (telemetry.tracing)",
    "LogSettings": "Isthmus's log settings are its command line's (--log-level) and its config's access_log",
}


def _unimplemented(method: str, why: str) -> Callable[..., Awaitable[Any]]:
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"inference.GRPCInferenceService/{method}: {why}")

    handler.__name__ = method
    return handler


class ExtensionServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The extension methods; the ingress's servicer inherits them. ``guarded(context, call)``
    (the ingress's) turns an error into the call's status."""

    _dp: DataPlane

    async def guarded(self, context: Any, call: Callable[[], Awaitable[T]], rid: str | None = None) -> T:
        raise NotImplementedError  # pragma: no cover - the ingress's servicer defines it

    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Any) -> pb.ModelConfigResponse:
        doc = await self.guarded(context, lambda: extensions.config_of(self._dp, request.name, request.version or None))
        return json_format.ParseDict({"config": doc}, pb.ModelConfigResponse())

    async def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context: Any) -> pb.RepositoryIndexResponse:
        if request.repository_name:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no repository '{request.repository_name}': Isthmus has one, named '' (its routes)",
            )
        rows = await self.guarded(context, lambda: extensions.repository_index(self._dp, request.ready))
        return pb.RepositoryIndexResponse(models=[pb.RepositoryIndexResponse.ModelIndex(**row) for row in rows])

    async def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Any) -> pb.ModelStatisticsResponse:
        async def stats() -> dict[str, Any]:
            if not request.name:
                return extensions.statistics(self._dp)
            return extensions.statistics(self._dp, request.name, request.version or None)

        doc = await self.guarded(context, stats)
        return json_format.ParseDict(doc, pb.ModelStatisticsResponse())


for _method, _why in UNIMPLEMENTED.items():
    setattr(ExtensionServicer, _method, _unimplemented(_method, _why))
