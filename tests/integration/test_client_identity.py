"""One client certificate, one identity: REST and gRPC under real mTLS (trustme PKI) name the same
client the same way, so they share its cache entries and never another client's."""

import ssl

import aiohttp
import grpc
import numpy as np
import orjson
import pytest
import trustme
from cryptography import x509
from tritonclient.grpc import service_pb2_grpc

from isthmus.codecs import InferRequest, Tensor
from isthmus.codecs import v2_grpc as codec
from tests.conftest import make_config, v2_body

# A subject with what RFC 4514 escapes (a comma, a '+') and a non-ASCII value.
ALICE = {"common_name": "alice+ops", "organization_name": "Acme, Inc.", "organization_unit_name": "Zürich"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("identity-pki")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(d / "server.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    for name, subject in (("alice", ALICE), ("bob", {"common_name": "bob"})):
        cert = ca.issue_cert(f"{name}@example.com", **subject)
        cert.private_key_pem.write_to_path(str(d / f"{name}.key"))
        cert.cert_chain_pems[0].write_to_path(str(d / f"{name}.crt"))
    return d


@pytest.fixture
async def server(gateway, pki, onnx_models):
    tls = {"cert": str(pki / "server.pem"), "key": str(pki / "server.pem"), "client_ca": str(pki / "ca.pem")}
    config = make_config({
        "listener": {"address": "127.0.0.1:0", "grpc_address": "127.0.0.1:0", "tls": tls},
        "backends": [{"name": "local", "protocol": "onnx", "model_path": str(onnx_models["double"])}],
        "routes": [{"model": "m", "variants": [{"backend": "local", "weight": 1}], "cache": {"enabled": True}}],
    })
    server = await gateway(config)
    tenants: list[str | None] = []  # what each ingress handed the data plane as the client's identity
    infer = server.dataplane.infer

    async def spy(*args, **kwargs):
        tenants.append(args[1].tenant if len(args) > 1 else kwargs["meta"].tenant)  # (payload, RequestMeta)
        return await infer(*args, **kwargs)

    server.dataplane.infer = spy
    server.tenants = tenants
    return server


async def rest_infer(server, pki, who: str, data: list[float]) -> tuple[list[float], str]:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    ctx.load_cert_chain(str(pki / f"{who}.crt"), str(pki / f"{who}.key"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
        async with s.post(server.url + "/v2/models/m/infer", data=orjson.dumps(v2_body(data))) as r:
            assert r.status == 200, await r.text()
            return (await r.json())["outputs"][0]["data"], r.headers["x-isthmus-cache"]


async def grpc_infer(server, pki, who: str, data: list[float]) -> tuple[list[float], str]:
    creds = grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.pem").read_bytes(),
        private_key=(pki / f"{who}.key").read_bytes(),
        certificate_chain=(pki / f"{who}.crt").read_bytes(),
    )
    async with grpc.aio.secure_channel(server.grpc_target, creds) as channel:
        tensor = Tensor("input-0", "FP32", np.array([data], np.float32))
        call = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            codec.encode_request(InferRequest(), (tensor,), "m"), timeout=10
        )
        reply = await call
        metadata = dict(await call.initial_metadata())
        return codec.decode_response(reply, "gw").outputs[0].data.reshape(-1).tolist(), metadata["x-isthmus-cache"]


async def test_rest_and_grpc_name_the_same_client_certificate_alike(server, pki):
    await rest_infer(server, pki, "alice", [1, 2])
    await grpc_infer(server, pki, "alice", [3, 4])
    rest, grpc_ = server.tenants
    expected = x509.load_pem_x509_certificate((pki / "alice.crt").read_bytes()).subject.rfc4514_string()
    assert rest == grpc_ == expected
    assert "O=Acme\\, Inc." in rest and "CN=alice\\+ops" in rest and "OU=Zürich" in rest


async def test_an_answer_cached_over_rest_is_a_hit_over_grpc_for_the_same_client_only(server, pki):
    assert await rest_infer(server, pki, "alice", [5, 6]) == ([10.0, 12.0], "miss")
    assert await grpc_infer(server, pki, "alice", [5, 6]) == ([10.0, 12.0], "hit")
    assert await grpc_infer(server, pki, "bob", [5, 6]) == ([10.0, 12.0], "miss")  # another tenant
    assert await rest_infer(server, pki, "bob", [5, 6]) == ([10.0, 12.0], "hit")  # bob's, stored over gRPC
    assert len(set(server.tenants)) == 2
