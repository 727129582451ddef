"""Ray Serve peer: a real Ray Serve application per model, served over HTTP.

Starts a private single-node Ray cluster (1 CPU, no dashboard, loopback only,
own temp dir) and one Serve application per model at route prefix ``/NAME``:
``POST /NAME`` with ``{"instances": [...]}`` answers ``{"predictions": [...]}``
(each number ``x * 2 + offset`` in FP32, nesting kept); any other body -> 400
with ``{"error": ...}``. ``GET /NAME/-/healthz`` (any GET under ``/NAME``)
answers 200 once the model's replica serves: that is the readiness URL.

``--model`` may be repeated, each ``NAME`` or ``NAME:OFFSET`` (``--offset`` is
the default offset), so several models share one Ray cluster. A ``@DEPLOYMENT``
suffix picks the deployment: ``affine`` (the default, above) or ``seed000``
(seed 000's ``LargeModelDeployment``: ``{"input": [...]}`` -> ``{"output": [...]}``,
500 on a body it cannot handle; see ``seed000_deployment.py``).

Run with the ray venv's python:
    serve.py --port P [--metrics-port M] --model NAME --offset K
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

LOG = logging.getLogger("isthmus.peers.ray")
HOST = "127.0.0.1"
OBJECT_STORE_BYTES = 80 * 1024 * 1024  # Ray's floor is 75 MiB; the default takes 30% of RAM


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="Serve HTTP proxy port (127.0.0.1)")
    parser.add_argument("--grpc-port", type=int, help="accepted for uniformity; Serve's gRPC proxy stays off")
    parser.add_argument("--metrics-port", type=int, help="Ray metrics export port (random if omitted)")
    parser.add_argument(
        "--model", action="append", default=None,
        help="NAME or NAME:OFFSET, optionally @affine or @seed000 (the deployment); repeatable",
    )
    parser.add_argument("--offset", type=float, default=0.0, help="default offset")
    return parser.parse_args(argv)


DEPLOYMENTS = ("affine", "seed000")


def model_spec(spec: str, default_offset: float) -> tuple[str, float, str]:
    """``NAME[:OFFSET][@DEPLOYMENT]`` -> ``(name, offset, deployment)``."""
    from affine_model import parse_model_spec  # noqa: PLC0415  (tests/peers, put on sys.path by main)

    spec, at, kind = spec.partition("@")
    if at and kind not in DEPLOYMENTS:
        raise SystemExit(f"unknown deployment {kind!r} in --model (known: {', '.join(DEPLOYMENTS)})")
    return (*parse_model_spec(spec, default_offset), kind or "affine")


def wait_for_stop_signal() -> int:
    """Block the main thread until SIGTERM or SIGINT; return the signal number."""
    received: list[int] = []
    stop = threading.Event()

    def handler(signum, frame):
        received.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    while not stop.wait(1.0):
        pass
    return received[0]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # appended: never shadows ray
    models = [model_spec(spec, args.offset) for spec in (args.model or ["affine"])]
    if len({name for name, _, _ in models}) != len(models):
        raise SystemExit(f"duplicate model names in {args.model}")

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Makes Ray pick 127.0.0.1 as the node IP (as on macOS/Windows), so GCS, raylet and the
    # agents listen on loopback; ray.init(_node_ip_address="127.0.0.1") is rewritten to the
    # machine's IP instead. Read at import time and inherited by Ray's child processes.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray  # noqa: PLC0415
    from affine_deployment import AffineDeployment  # noqa: PLC0415  (script dir)
    from ray import serve  # noqa: PLC0415
    from seed000_deployment import LargeModelDeployment  # noqa: PLC0415  (script dir)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    temp_dir = tempfile.mkdtemp(prefix="isthmus-raycluster-")
    try:
        ray.init(
            address="local",  # always a private cluster, never one found on the machine
            num_cpus=1,
            include_dashboard=False,
            object_store_memory=OBJECT_STORE_BYTES,
            _temp_dir=temp_dir,
            _metrics_export_port=args.metrics_port,
            configure_logging=False,
            log_to_driver=True,
        )
        serve.start(http_options={"host": HOST, "port": args.port, "location": "HeadOnly"})
        deployments = {"affine": AffineDeployment, "seed000": LargeModelDeployment}
        for name, offset, kind in models:
            app = deployments[kind].options(name=name).bind(name, offset)
            serve.run(app, name=name, route_prefix=f"/{name}", blocking=False)
            LOG.info("model %s (%s, offset %s) at http://%s:%d/%s", name, kind, offset, HOST, args.port, name)
        print(json.dumps({"ready": [name for name, _, _ in models], "port": args.port}), flush=True)
        signum = wait_for_stop_signal()
        LOG.info("signal %d: shutting down", signum)
        serve.shutdown()
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
