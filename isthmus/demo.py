"""The embedded demo: two small ONNX models behind a 90/10 canary, no cluster needed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from isthmus.config import Config
from isthmus.signals import until_signalled

DEMO_MODEL = "demo"
# v1 doubles its input; v2 doubles it and adds 100, so the canary's answers stand out.
DEMO_VARIANTS = (("demo-v1", "1", 0.0, 90), ("demo-v2", "2", 100.0, 10))


def write_model(path: Path, offset: float) -> Path:
    """An ONNX model computing ``output-0 = input-0 * 2 + offset`` for FP32 input of any [N, M] shape."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input-0", TensorProto.FLOAT, ["batch", "features"])
    y = helper.make_tensor_value_info("output-0", TensorProto.FLOAT, ["batch", "features"])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    off = helper.make_tensor("offset", TensorProto.FLOAT, [], [offset])
    nodes = [
        helper.make_node("Mul", ["input-0", "two"], ["doubled"]),
        helper.make_node("Add", ["doubled", "offset"], ["output-0"]),
    ]
    graph = helper.make_graph(nodes, "double_plus_offset", [x], [y], initializer=[two, off])
    model = helper.make_model(graph, producer_name="isthmus-demo", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def demo_config(model_dir: Path, host: str, port: int, grpc_port: int | None = None) -> Config:
    backends = []
    for name, version, offset, _ in DEMO_VARIANTS:
        path = write_model(model_dir / f"{name}.onnx", offset)
        backends.append({"name": name, "protocol": "onnx", "model_path": str(path), "device": "cpu", "version": version})
    return Config.model_validate(
        {
            "listener": {"address": f"{host}:{port}"}
            | ({"grpc_address": f"{host}:{grpc_port}"} if grpc_port is not None else {}),
            "backends": backends,
            "routes": [
                {
                    "model": DEMO_MODEL,
                    "variants": [{"backend": n, "weight": w} for n, _, _, w in DEMO_VARIANTS],
                    "sticky_header": "x-user-id",
                    "override_header": "x-isthmus-variant",
                    "cache": {"enabled": True, "ttl": "5m"},
                }
            ],
        }
    )


def banner(url: str, grpc_target: str | None = None) -> str:
    body = '{"inputs":[{"name":"input-0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}'
    return (
        f"Isthmus demo gateway on {url}\n"
        f"  model '{DEMO_MODEL}': 90% demo-v1 (x*2), 10% demo-v2 (x*2+100), local ONNX Runtime,\n"
        f"  results cached in memory for 5 minutes\n\n"
        f"Try it:\n"
        f"  curl -si {url}/v2/models/{DEMO_MODEL}/infer -H 'content-type: application/json' \\\n"
        f"       -d '{body}'\n"
        f"  (add -H 'x-isthmus-variant: demo-v2' to pin the canary, -H 'x-user-id: alice' to stick;\n"
        f"   send it twice: the second answer comes from the cache, x-isthmus-cache: hit)\n\n"
        f"{grpc_banner(grpc_target) if grpc_target else ''}"
        f"Ctrl-C to stop."
    )


def grpc_banner(target: str) -> str:
    return (
        f"Open Inference Protocol V2 over gRPC on {target} (inference.GRPCInferenceService), e.g.\n"
        f"  python -c \"import numpy as np, tritonclient.grpc as g; c = g.InferenceServerClient('{target}'); "
        f"i = g.InferInput('input-0', [1, 4], 'FP32'); i.set_data_from_numpy(np.arange(4, dtype=np.float32)[None]); "
        f"print(c.infer('{DEMO_MODEL}', [i]).as_numpy('output-0'))\"\n"
        f"  (metadata keys as the headers above: x-isthmus-variant, x-user-id)\n\n"
    )


async def run_demo(host: str, port: int, grpc_port: int | None = None) -> None:
    from isthmus.admin import GatewaySources, running_admin
    from isthmus.gateway import GatewayServer

    with tempfile.TemporaryDirectory(prefix="isthmus-demo-") as tmp:
        config = demo_config(Path(tmp), host, port, grpc_port)
        server = GatewayServer(config, source="demo")
        # the admin API on its default address (127.0.0.1:9901); a port in use only skips it
        sources = GatewaySources(server, scrape=server.telemetry.scrape)
        async with running_admin(config.telemetry.admin.address, sources, required=False) as api:
            await server.start()
            print(banner(server.url, server.grpc_target), flush=True)
            if api is not None:
                print(f"Admin API: {api.url}/metrics, /config_dump, /ready\n", flush=True)
            try:
                await until_signalled()
            finally:
                await server.stop()
