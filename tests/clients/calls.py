"""Run INSIDE the clients venv (tests/clients/build.sh) by tests/integration/test_client_env.py.

    python tests/clients/calls.py imports isthmus|kserve
        isthmus: every isthmus module, tritonclient's and the OTLP/xDS generated code; kserve: the
        kserve package's. Prints JSON {"versions": {...}, "imported": [...], "failed": {module: error}}
    python tests/clients/calls.py calls --rest URL --grpc HOST:PORT --tfs HOST:PORT
        calls a running gateway (the demo config plus route `tfs`) with tritonclient, and a TF
        Serving stand-in with Isthmus's vendored stubs; prints JSON {call: [output values]}
    python tests/clients/calls.py kserve --grpc HOST:PORT
        the same V2 gRPC call with kserve's InferenceGRPCClient; prints JSON {call: [output values]}

kserve gets processes of its own: it and tritonclient.grpc (which Isthmus's gRPC modules import)
register the same `inference.*` messages in protobuf's default pool under different file names,
so they cannot be imported in one process (kserve/kserve#3099). It only reports what it saw; the
test asserts. Stdlib, numpy and the installed clients only.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import json
import pkgutil
import sys

VERSIONS = ("protobuf", "grpcio", "tritonclient", "kserve", "xds-protos", "opentelemetry-proto",
            "googleapis-common-protos", "grpcio-health-checking", "grpcio-reflection", "isthmus")  # fmt: skip
# generated code the clients bring (the gencode/runtime check runs when each is imported)
CLIENT_MODULES = {
    "isthmus": (
        "tritonclient.grpc", "tritonclient.grpc.aio", "tritonclient.http", "tritonclient.http.aio",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "envoy.service.discovery.v3.ads_pb2_grpc", "google.rpc.status_pb2",
    ),
    "kserve": ("kserve", "kserve.protocol.grpc.grpc_predict_v2_pb2", "kserve.protocol.grpc.grpc_predict_v2_pb2_grpc"),
}  # fmt: skip
DATA = [1.0, 2.0, 3.0, 4.0]


def imports(group: str) -> dict:
    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    names = []
    if group == "isthmus":
        import isthmus

        names = [m.name for m in pkgutil.walk_packages(isthmus.__path__, "isthmus.") if m.name != "isthmus.__main__"]
    imported, failed = [], {}
    for name in [*names, *CLIENT_MODULES[group]]:
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception as exc:  # reported, and the test fails on it
            failed[name] = f"{type(exc).__name__}: {exc}"
    return {"versions": versions, "imported": imported, "failed": failed}


def calls(rest: str, grpc_target: str, tfs: str) -> dict:
    import numpy as np
    import tritonclient.grpc as tgrpc
    import tritonclient.http as thttp

    x = np.asarray([DATA], dtype=np.float32)
    pinned = {"x-isthmus-variant": "demo-v2"}
    out: dict[str, list[float]] = {}

    http = thttp.InferenceServerClient(rest.removeprefix("http://"))
    try:
        inp = thttp.InferInput("input-0", [1, 4], "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
        out["triton_http_v2"] = http.infer("demo", [inp], headers=pinned).as_numpy("output-0").ravel().tolist()
    finally:
        http.close()

    grpc_client = tgrpc.InferenceServerClient(grpc_target)
    try:
        inp = tgrpc.InferInput("input-0", [1, 4], "FP32")
        inp.set_data_from_numpy(x)
        out["triton_grpc_v2"] = grpc_client.infer("demo", [inp], headers=pinned).as_numpy("output-0").ravel().tolist()
        # the gateway translates to TF Serving gRPC with the vendored stubs (backend tfserving-grpc)
        # the stand-in names each output after its input (TF Serving's alias): "input-0"
        out["triton_grpc_v2_to_tfserving_grpc"] = grpc_client.infer("tfs", [inp]).as_numpy("input-0").ravel().tolist()
    finally:
        grpc_client.close()

    out["tfserving_grpc_predict"] = _predict(tfs, x)
    return out


def kserve_grpc(target: str) -> dict:
    import numpy as np

    x = np.asarray([DATA], dtype=np.float32)
    return {"kserve_grpc_v2": asyncio.run(_kserve_grpc(target, x, {"x-isthmus-variant": "demo-v2"}))}


async def _kserve_grpc(target: str, x, headers: dict[str, str]) -> list[float]:
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    client = InferenceGRPCClient(target, timeout=30, retries=0)
    try:
        inp = InferInput("input-0", [1, 4], "FP32")
        inp.set_data_from_numpy(x)
        resp = await client.infer(InferRequest(model_name="demo", infer_inputs=[inp]), headers=list(headers.items()))
        return resp.outputs[0].as_numpy().ravel().tolist()
    finally:
        await client.close()


def _predict(target: str, x) -> list[float]:
    """PredictionService/Predict with Isthmus's vendored stubs (isthmus.protos.tfserving)."""
    import grpc

    from isthmus.codecs.tensorproto import decode_tensor, encode_tensor
    from isthmus.codecs.tensors import Tensor
    from isthmus.protos.tfserving.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "tfs"
    encode_tensor(Tensor("x", "FP32", x), req.inputs["x"])
    with grpc.insecure_channel(target) as channel:
        resp = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(req, timeout=30)
    return decode_tensor("x", resp.outputs["x"]).data.ravel().tolist()


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("imports").add_argument("group", choices=sorted(CLIENT_MODULES))
    c = sub.add_parser("calls")
    c.add_argument("--rest", required=True)
    c.add_argument("--grpc", required=True)
    c.add_argument("--tfs", required=True)
    sub.add_parser("kserve").add_argument("--grpc", required=True)
    args = p.parse_args()
    del sys.argv[1:]  # kserve.model_server parses sys.argv when imported
    if args.cmd == "imports":
        result = imports(args.group)
    elif args.cmd == "calls":
        result = calls(args.rest, args.grpc, args.tfs)
    else:
        result = kserve_grpc(args.grpc)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
