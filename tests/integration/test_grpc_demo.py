"""`isthmus demo --grpc-port` as a real process (on uvloop when installed), called with tritonclient."""

import os
import signal

import numpy as np
import tritonclient.grpc as tc

from tests.conftest import free_port
from tests.integration.test_cli_processes import wait_ready


def test_demo_serves_grpc_too(process):  # noqa: F811
    port, grpc_port = free_port(), free_port()
    proc = process("demo", "--port", str(port), "--grpc-port", str(grpc_port))
    wait_ready(proc, f"http://127.0.0.1:{port}/v2/health/ready")
    client = tc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    try:
        assert client.is_server_live() and client.is_model_ready("demo")
        inp = tc.InferInput("input-0", [1, 4], "FP32")
        inp.set_data_from_numpy(np.arange(1, 5, dtype=np.float32)[None])
        pinned = client.infer("demo", [inp], headers={"x-isthmus-variant": "demo-v2"})
        np.testing.assert_array_equal(pinned.as_numpy("output-0"), [[102, 104, 106, 108]])
        seen = {tuple(client.infer("demo", [inp]).as_numpy("output-0")[0]) for _ in range(150)}  # 0.9**150: never all v1
        assert seen == {(2, 4, 6, 8), (102, 104, 106, 108)}
    finally:
        client.close()
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"gRPC on 127.0.0.1:{grpc_port}" in out
