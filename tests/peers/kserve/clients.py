"""The kserve package's own clients against a gateway: run with the kserve peer venv's python.

    clients.py --rest http://127.0.0.1:P --grpc 127.0.0.1:G --model NAME --explain-model NAME

V1 REST (``InferenceRESTClient``, protocol v1): liveness (``GET /``), model readiness, predict,
explain; V2 REST (protocol v2): liveness, readiness, model readiness, infer with JSON tensors and with the
client's defaults (binary tensor data in and out); V2 gRPC
(``InferenceGRPCClient``): liveness, readiness, model readiness, infer. Prints one JSON document
with every answer; a failing call is ``{"error": "..."}`` in its place (the test reads them all).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


async def attempt(coro):
    try:
        return await coro
    except Exception as exc:  # noqa: BLE001 - reported to the test, which asserts on it
        return {"error": f"{type(exc).__name__}: {exc}"}


async def main(args: argparse.Namespace) -> dict:
    import numpy as np  # noqa: PLC0415
    from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig  # noqa: PLC0415

    out: dict = {}
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0, timeout=30))
    out["v1_live"] = await attempt(v1.is_server_live(args.rest))
    out["v1_model_ready"] = await attempt(v1.is_model_ready(args.rest, args.model))
    out["v1_predict"] = await attempt(v1.infer(args.rest, {"instances": X}, model_name=args.model))
    out["v1_explain"] = await attempt(v1.explain(args.rest, args.explain_model, {"instances": X}))
    await v1.close()

    v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    out["v2_live"] = await attempt(v2.is_server_live(args.rest))
    out["v2_ready"] = await attempt(v2.is_server_ready(args.rest))
    out["v2_model_ready"] = await attempt(v2.is_model_ready(args.rest, args.model))
    body = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [2, 3], "data": sum(X, [])}]}

    async def v2_infer():
        response = await v2.infer(args.rest, body, model_name=args.model)
        return response.outputs[0].as_numpy().tolist()

    out["v2_infer"] = await attempt(v2_infer())

    async def v2_infer_defaults():
        """As a kserve user writes it: InferInput.set_data_from_numpy sends binary tensor data by
        default; the output is asked for in binary too."""
        from kserve.protocol.infer_type import RequestedOutput  # noqa: PLC0415

        tensor = InferInput("input-0", [2, 3], "FP32")
        tensor.set_data_from_numpy(np.array(X, dtype=np.float32))
        request = InferRequest(
            model_name=args.model,
            infer_inputs=[tensor],
            request_outputs=[RequestedOutput("output-0", parameters={"binary_data": True})],
        )
        response = await v2.infer(args.rest, request, model_name=args.model)
        return response.outputs[0].as_numpy().tolist()

    out["v2_infer_defaults"] = await attempt(v2_infer_defaults())
    await v2.close()

    grpc_client = InferenceGRPCClient(args.grpc, timeout=30)
    out["grpc_live"] = await attempt(grpc_client.is_server_live())
    out["grpc_ready"] = await attempt(grpc_client.is_server_ready())
    out["grpc_model_ready"] = await attempt(grpc_client.is_model_ready(args.model))

    async def grpc_infer():
        tensor = InferInput("input-0", [2, 3], "FP32")
        tensor.set_data_from_numpy(np.array(X, dtype=np.float32))
        response = await grpc_client.infer(InferRequest(model_name=args.model, infer_inputs=[tensor]))
        return response.outputs[0].as_numpy().tolist()

    out["grpc_infer"] = await attempt(grpc_infer())
    await grpc_client.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rest", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--explain-model", required=True)
    parsed = parser.parse_args(sys.argv[1:])
    sys.argv = sys.argv[:1]  # kserve parses sys.argv when it is imported (see serve.py)
    print(json.dumps(asyncio.run(main(parsed))))
