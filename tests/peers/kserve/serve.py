"""KServe peer: a real ``kserve.ModelServer`` REST server with one custom model.

Serves KServe V1 (``POST /v1/models/NAME:predict`` and ``:explain``) and the Open Inference
Protocol V2 (``POST /v2/models/NAME/infer``, model metadata and readiness) on
127.0.0.1 only. Readiness URL: ``GET /v2/health/ready``.

With ``--grpc-port`` it also serves the V2 gRPC API (``inference.GRPCInferenceService``)
with KServe's own servicer and interceptors, on 127.0.0.1 (KServe's ``GRPCServer``
binds ``[::]``, so the peer builds the same grpc.aio server itself). The gRPC server
is up before REST answers, so REST readiness covers both.

Run with the kserve venv's python:
    serve.py --port P [--grpc-port G] --model NAME --offset K
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import uuid
from pathlib import Path

LOG = logging.getLogger("isthmus.peers.kserve")
HOST = "127.0.0.1"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="HTTP port (127.0.0.1)")
    parser.add_argument("--grpc-port", type=int, help="V2 gRPC port (127.0.0.1); no gRPC when omitted")
    parser.add_argument("--metrics-port", type=int, help="accepted for uniformity; metrics are on --port")
    parser.add_argument("--model", default="affine", help="model name")
    parser.add_argument("--offset", type=float, default=0.0, help="output = input * 2 + offset")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # kserve parses sys.argv when kserve.model_server is imported; hide our flags from it
    # (argparse abbreviation would otherwise read --model as its --model_name).
    sys.argv = sys.argv[:1]
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # appended: never shadows kserve
    import numpy as np  # noqa: PLC0415
    from affine_model import InvalidInstances, affine_instances  # noqa: PLC0415
    from kserve import Model, ModelServer  # noqa: PLC0415
    from kserve.errors import InvalidInput  # noqa: PLC0415
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # noqa: PLC0415
    from kserve.protocol.rest.server import RESTServer  # noqa: PLC0415

    class AffineModel(Model):
        """``output = input * 2 + offset`` in FP32, for V1 dicts and V2 ``InferRequest``s."""

        def __init__(self, name: str, offset: float) -> None:
            super().__init__(name)
            self.offset = offset
            self.load()

        def get_input_types(self) -> list[dict]:
            return [{"name": "input-0", "datatype": "FP32", "shape": [-1, -1]}]

        def get_output_types(self) -> list[dict]:
            return [{"name": "output-0", "datatype": "FP32", "shape": [-1, -1]}]

        async def predict(self, payload, headers=None, response_headers=None):
            if isinstance(payload, InferRequest):
                return self._predict_v2(payload)
            if not isinstance(payload, dict) or set(payload) != {"instances"}:
                raise InvalidInput('V1 body must be {"instances": [...]}')
            try:
                return {"predictions": affine_instances(payload["instances"], self.offset)}
            except InvalidInstances as exc:
                raise InvalidInput(str(exc)) from exc

        async def explain(self, payload, headers=None):
            """KServe's ``:explain`` (``POST /v1/models/NAME:explain``): each input's contribution to
            ``input * 2 + offset`` (its ``input * 2``), and the offset every output gets."""
            if not isinstance(payload, dict) or set(payload) != {"instances"}:
                raise InvalidInput('V1 explain body must be {"instances": [...]}')
            if payload["instances"] == ["crash"]:  # a crashing explainer: KServe's own 500 answer, for the tests
                raise RuntimeError("the explainer has nothing to explain")
            try:
                contributions = affine_instances(payload["instances"], 0.0)
            except InvalidInstances as exc:
                raise InvalidInput(str(exc)) from exc
            return {"explanations": contributions, "offset": self.offset, "explainer": "affine"}

        def _predict_v2(self, request: InferRequest) -> InferResponse:
            tensors = {tensor.name: tensor for tensor in request.inputs}
            if set(tensors) != {"input-0"}:
                raise InvalidInput(f"expected one input named 'input-0', got {sorted(tensors)}")
            tensor = tensors["input-0"]
            if tensor.datatype != "FP32":
                raise InvalidInput(f"input-0 must be FP32, got {tensor.datatype}")
            try:
                data = tensor.as_numpy().astype(np.float32, copy=False)
            except ValueError as exc:
                raise InvalidInput(f"input-0 data does not match its shape: {exc}") from exc
            out = data * np.float32(2) + np.float32(self.offset)
            output = InferOutput("output-0", shape=list(out.shape), datatype="FP32", data=out)
            return InferResponse(request.id or str(uuid.uuid4()), self.name, infer_outputs=[output])

    server = ModelServer(http_port=args.port, enable_grpc=False, workers=1, enable_docs_url=False)
    server.register_model(AffineModel(args.model, args.offset))
    # ModelServer.start() binds 0.0.0.0 (hard-coded upstream): run its REST server ourselves on
    # loopback. uvicorn shuts down gracefully on SIGTERM/SIGINT.
    rest = RESTServer(
        "kserve.model_server:app",
        server.dataplane,
        server.model_repository_extension,
        args.port,
        grace_period=5,
        event_loop="asyncio",
    )
    rest.config.host = HOST
    # uvicorn traps SIGTERM/SIGINT while serving, then re-raises them once it has shut down;
    # these handlers absorb that re-raise so the process exits with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: LOG.info("signal %d: stopped", signum))
    asyncio.run(serve(rest, server, args.grpc_port))
    LOG.info("kserve peer stopped")
    return 0


async def serve(rest, server, grpc_port: int | None) -> None:
    """REST until uvicorn stops (on SIGTERM/SIGINT), with the gRPC server beside it when asked."""
    grpc_server = await start_grpc(server, grpc_port) if grpc_port is not None else None
    try:
        await rest.start()
    finally:
        if grpc_server is not None:
            await grpc_server.stop(grace=5)


async def start_grpc(server, port: int):
    """What kserve.protocol.grpc.server.GRPCServer.start does, bound to loopback."""
    from grpc import aio  # noqa: PLC0415
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc  # noqa: PLC0415
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor  # noqa: PLC0415
    from kserve.protocol.grpc.servicer import InferenceServicer  # noqa: PLC0415

    grpc_server = aio.server(
        interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()), options=[("grpc.so_reuseport", 0)]
    )
    servicer = InferenceServicer(server.dataplane, server.model_repository_extension)
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, grpc_server)
    grpc_server.add_insecure_port(f"{HOST}:{port}")
    await grpc_server.start()
    LOG.info("kserve gRPC server on %s:%d", HOST, port)
    return grpc_server


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
