"""A real KServe model server whose model reports the W3C trace headers it received.

Run with the kserve peer's python (``.venv-peers/kserve/bin/python``), not the gateway's:
    kserve_trace_echo.py --port P --model NAME

V2 only: ``output-0 = input-0 * 2`` (FP32), and the response's ``parameters`` carry the request's
``traceparent`` and ``tracestate`` headers as the model saw them ("" when absent). Binds
127.0.0.1; ready when ``GET /v2/health/ready`` answers 200; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="echo")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # kserve.model_server parses sys.argv at import
    import numpy as np
    from kserve import Model, ModelServer
    from kserve.protocol.infer_type import InferOutput, InferResponse
    from kserve.protocol.rest.server import RESTServer

    class TraceEcho(Model):
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.load()

        async def predict(self, payload, headers=None, response_headers=None):
            data = payload.inputs[0].as_numpy().astype(np.float32, copy=False) * np.float32(2)
            output = InferOutput("output-0", shape=list(data.shape), datatype="FP32", data=data)
            seen = {k.lower(): v for k, v in (headers or {}).items()}
            parameters = {"traceparent": seen.get("traceparent", ""), "tracestate": seen.get("tracestate", "")}
            return InferResponse(payload.id or "echo", self.name, infer_outputs=[output], parameters=parameters)

    server = ModelServer(http_port=args.port, enable_grpc=False, workers=1, enable_docs_url=False)
    server.register_model(TraceEcho(args.model))
    rest = RESTServer("kserve.model_server:app", server.dataplane, server.model_repository_extension, args.port,
                      grace_period=5, event_loop="asyncio")  # fmt: skip
    rest.config.host = "127.0.0.1"
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)  # uvicorn re-raises after its graceful stop
    asyncio.run(rest.start())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
