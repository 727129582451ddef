"""An OTLP/gRPC trace sink for the bench's traced targets: accepts every export, keeps a count.

Usage: python bench/otlp_sink.py PORT COUNT_FILE. Each export's span count is added to a total
written to COUNT_FILE (so the bench can check spans really arrived). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, count_file: Path) -> None:
        self.count_file = count_file
        self.spans = 0

    async def Export(self, request, context):  # noqa: N802 (gRPC method name)
        self.spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        self.count_file.write_text(str(self.spans))
        return trace_service_pb2.ExportTraceServiceResponse()


async def main(port: int, count_file: Path) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 64 << 20)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Sink(count_file), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
