"""MLServer peer: a real ``mlserver.MLServer`` with one custom ``MLModel`` runtime.

Serves the Open Inference Protocol V2 over REST on 127.0.0.1 only
(``POST /v2/models/NAME/infer``, model metadata and readiness). Settings are
built in memory; the only files written go to a temporary directory removed on
exit. Readiness URL: ``GET /v2/health/ready``.

MLServer always starts its gRPC server, so it is bound to 127.0.0.1:--grpc-port
(a free port is picked when the flag is omitted). The metrics server runs only
when --metrics-port is given. ``parallel_workers`` is 0: MLServer's worker pool
crashes under uvloop 0.23, and inference runs in the main process anyway.

Run with the mlserver venv's python:
    serve.py --port P [--grpc-port G] [--metrics-port M] --model NAME --offset K
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
from pathlib import Path

HOST = "127.0.0.1"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="HTTP port (127.0.0.1)")
    parser.add_argument("--grpc-port", type=int, help="gRPC port (127.0.0.1); free port if omitted")
    parser.add_argument("--metrics-port", type=int, help="metrics server port; disabled if omitted")
    parser.add_argument("--model", default="affine", help="model name")
    parser.add_argument("--offset", type=float, default=0.0, help="output = input * 2 + offset")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from affine_runtime import INPUT_NAME, OUTPUT_NAME, AffineRuntime  # noqa: PLC0415  (script dir)
    from mlserver import MLServer  # noqa: PLC0415
    from mlserver.settings import ModelParameters, ModelSettings, Settings  # noqa: PLC0415
    from mlserver.types import MetadataTensor  # noqa: PLC0415

    async def serve(workdir: str) -> None:
        settings = Settings(
            host=HOST,
            http_port=args.port,
            grpc_port=args.grpc_port or free_port(),
            metrics_port=args.metrics_port or 0,
            metrics_endpoint="/metrics" if args.metrics_port else None,
            parallel_workers=0,
            debug=False,
            load_models_at_startup=False,
            model_repository_root=workdir,
            metrics_dir=str(Path(workdir, "metrics")),
            environments_dir=str(Path(workdir, "envs")),
        )
        tensor = {"datatype": "FP32", "shape": [-1, -1]}
        model = ModelSettings(
            name=args.model,
            implementation=AffineRuntime,
            inputs=[MetadataTensor(name=INPUT_NAME, **tensor)],
            outputs=[MetadataTensor(name=OUTPUT_NAME, **tensor)],
            parameters=ModelParameters(extra={"offset": args.offset}),
        )
        # MLServer installs SIGINT/SIGTERM handlers on the running loop and shuts down gracefully.
        await MLServer(settings).start([model])

    with tempfile.TemporaryDirectory(prefix="isthmus-mlserver-run-") as workdir:
        asyncio.run(serve(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
