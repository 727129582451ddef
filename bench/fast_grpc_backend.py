"""The bench's fast V2 gRPC backend: a grpc.aio server answering every ``ModelInfer`` with one
fixed, pre-serialised ``ModelInferResponse`` (the [1,16] FP32 answer of the REST bench, as raw
contents), without parsing the request. ``ServerLive``, ``ServerReady`` and ``ModelReady`` answer
true; the rest are UNIMPLEMENTED.

Usage: python fast_grpc_backend.py PORT
"""

from __future__ import annotations

import asyncio
import struct
import sys

import grpc

SERVICE = "inference.GRPCInferenceService"
MODEL = "bench"


def infer_response() -> bytes:
    """``ModelInferResponse{model_name: bench, model_version: 1, outputs: [output-0 FP32 [1,16]],
    raw_output_contents: [0.0, 0.2, ... 3.0]}``, serialised."""
    from tritonclient.grpc import service_pb2 as pb

    msg = pb.ModelInferResponse(model_name=MODEL, model_version="1", id="1")
    msg.outputs.add(name="output-0", datatype="FP32", shape=[1, 16])
    msg.raw_output_contents.append(struct.pack("<16f", *(i / 5 for i in range(16))))
    return msg.SerializeToString()


def handler(answer: bytes) -> grpc.GenericRpcHandler:
    true = b"\x08\x01"  # field 1 (live / ready) = true

    async def fixed(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return answer

    async def yes(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return true

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "ModelInfer": grpc.unary_unary_rpc_method_handler(fixed),  # bytes in, bytes out
            "ServerLive": grpc.unary_unary_rpc_method_handler(yes),
            "ServerReady": grpc.unary_unary_rpc_method_handler(yes),
            "ModelReady": grpc.unary_unary_rpc_method_handler(yes),
        },
    )


async def serve(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler(infer_response()),))
    if not server.add_insecure_port(f"127.0.0.1:{port}"):
        raise SystemExit(f"cannot bind 127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
