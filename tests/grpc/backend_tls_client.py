"""Run by test_backend_tls.py in a fresh process whose GRPC_DEFAULT_SSL_ROOTS_FILE_PATH is the
test CA (grpc reads its default roots once per process): both gRPC backends with ``grpcs://``
endpoints against real TLS servers. Prints one line per check; exits non-zero on the first failure.

Usage: python -m tests.grpc.backend_tls_client PKI_DIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
import numpy as np

from isthmus.backends import BackendUnavailable, CallContext, build_backend
from isthmus.backends.fake import FakeBackend
from isthmus.codecs import InferRequest, Tensor
from isthmus.config import Config
from isthmus.gateway import GatewayServer
from tests.conftest import make_config
from tests.servers.tfserving_grpc import Model, start_server

CTX = CallContext("m", "rid-tls")
X = InferRequest(inputs=(Tensor("x", "FP32", np.array([[1.0, 2.0]], np.float32)),))


def backend(protocol: str, endpoint: str):
    return build_backend(Config.model_validate(
        {"backends": [{"name": "b", "protocol": protocol, "endpoints": [endpoint], "model": "m", "timeout": "5s"}]}
    ).backends[0])


async def answer(protocol: str, endpoint: str) -> list[float]:
    b = backend(protocol, endpoint)
    await b.start()
    try:
        return (await b.infer(X, CTX)).outputs[0].data.reshape(-1).tolist()
    finally:
        await b.close()


async def main(pki: Path) -> None:
    key_cert = (pki / "server.key").read_bytes(), (pki / "server.crt").read_bytes()
    tfs, tfs_port = await start_server(Model("m", offset=0.5), credentials=grpc.ssl_server_credentials([key_cert]))
    tls = {"cert": str(pki / "server.crt"), "key": str(pki / "server.key")}
    gw = GatewayServer(make_config({
        "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0", "tls": tls},
        "backends": [{"name": "a", "protocol": "kserve-v2", "endpoints": ["http://127.0.0.1:9"]}],
        "routes": [{"model": "m", "variants": [{"backend": "a", "weight": 1}]}],
    }), backends={"a": FakeBackend("a")}, host="127.0.0.1", port=0)
    await gw.start()
    v2_port = int(gw.grpc_target.rsplit(":", 1)[1])
    try:
        for protocol, port, expected in (("tfserving-grpc", tfs_port, [2.5, 4.5]), ("kserve-v2-grpc", v2_port, [2, 4])):
            got = await answer(protocol, f"grpcs://localhost:{port}")
            assert got == expected, (protocol, got)
            print(f"{protocol} grpcs ok {got}", flush=True)
            try:  # the same server in plaintext: refused, so the answer above did come over TLS
                await answer(protocol, f"grpc://localhost:{port}")
            except BackendUnavailable:
                print(f"{protocol} plaintext refused", flush=True)
            else:
                raise AssertionError(f"{protocol}: a plaintext call to a TLS port answered")
    finally:
        await gw.stop()
        await tfs.stop(None)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
