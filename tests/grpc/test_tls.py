"""TLS and mTLS on the gRPC listener (the listener's own TLS settings), certificates from trustme."""

import grpc
import numpy as np
import pytest
import trustme
from tritonclient.grpc import service_pb2_grpc

from isthmus.backends.fake import FakeBackend
from isthmus.codecs import InferRequest, Tensor
from isthmus.codecs import v2_grpc as codec
from tests.grpc.conftest import grpc_config


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("grpc-pki")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(d / "server.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    for name in ("alice", "bob"):
        cert = ca.issue_cert(f"{name}@example.com")
        cert.private_key_pem.write_to_path(str(d / f"{name}.key"))
        cert.cert_chain_pems[0].write_to_path(str(d / f"{name}.crt"))
    rogue = trustme.CA().issue_cert("rogue@example.com")
    rogue.private_key_pem.write_to_path(str(d / "rogue.key"))
    rogue.cert_chain_pems[0].write_to_path(str(d / "rogue.crt"))
    return d


def config(pki, mtls: bool):
    tls = {"cert": str(pki / "server.pem"), "key": str(pki / "server.pem")}
    if mtls:
        tls["client_ca"] = str(pki / "ca.pem")
    return grpc_config(["a"], routes=[{"model": "m", "variants": [{"backend": "a", "weight": 1}],
                                       "cache": {"enabled": True}}], tls=tls)


async def infer(server, pki, who: str | None = None, ca: str = "ca.pem"):
    creds = grpc.ssl_channel_credentials(
        root_certificates=(pki / ca).read_bytes(),
        private_key=(pki / f"{who}.key").read_bytes() if who else None,
        certificate_chain=(pki / f"{who}.crt").read_bytes() if who else None,
    )
    async with grpc.aio.secure_channel(server.grpc_target, creds) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        req = codec.encode_request(InferRequest(), (Tensor("input-0", "FP32", np.ones((1, 2), np.float32)),), "m")
        call = stub.ModelInfer(req, timeout=5)
        reply = await call
        return codec.decode_response(reply, "gw").outputs[0].data, dict(await call.initial_metadata())


async def test_tls(gateway, pki):
    server = await gateway(config(pki, mtls=False), backends={"a": FakeBackend("a")})
    data, md = await infer(server, pki)
    assert data.tolist() == [[2, 2]] and md["x-isthmus-backend"] == "a"
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:  # plaintext to a TLS port
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await service_pb2_grpc.GRPCInferenceServiceStub(channel).ServerLive(codec.pb.ServerLiveRequest(),
                                                                                timeout=2)
        assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_mtls_requires_a_client_certificate_from_the_ca_and_keys_the_cache_by_it(gateway, pki):
    server = await gateway(config(pki, mtls=True), backends={"a": FakeBackend("a")})
    assert (await infer(server, pki, "alice"))[1]["x-isthmus-cache"] == "miss"
    assert (await infer(server, pki, "alice"))[1]["x-isthmus-cache"] == "hit"
    assert (await infer(server, pki, "bob"))[1]["x-isthmus-cache"] == "miss"  # another tenant
    for who in (None, "rogue"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await infer(server, pki, who)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
