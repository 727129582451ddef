"""TLS termination and mTLS on the real listener, with certificates from trustme."""

import ssl

import aiohttp
import orjson
import pytest
import trustme

from tests.conftest import make_config, v2_body


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("app@example.com")
    server.private_key_and_cert_chain_pem.write_to_path(str(d / "server.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    client.private_key_and_cert_chain_pem.write_to_path(str(d / "client.pem"))
    rogue = trustme.CA().issue_cert("rogue")
    rogue.private_key_and_cert_chain_pem.write_to_path(str(d / "rogue.pem"))
    return d


def tls_config(pki, onnx_models, mtls: bool):
    tls = {"cert": str(pki / "server.pem"), "key": str(pki / "server.pem")}
    if mtls:
        tls["client_ca"] = str(pki / "ca.pem")
    return make_config({
        "listener": {"address": "127.0.0.1:0", "tls": tls},
        "backends": [{"name": "local", "protocol": "onnx", "model_path": str(onnx_models["double"])}],
        "routes": [{"model": "m", "variants": [{"backend": "local", "weight": 1}]}],
    })


def client_ctx(pki, cert: str | None = None, max_version=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / cert))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


async def infer(url: str, ctx: ssl.SSLContext | None):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx if ctx else False)) as s:
        async with s.post(url + "/v2/models/m/infer", data=orjson.dumps(v2_body([1, 2]))) as r:
            return r.status, await r.json()


async def test_tls_terminates_and_plain_http_is_refused(gateway, pki, onnx_models):
    server = await gateway(tls_config(pki, onnx_models, mtls=False))
    assert server.url.startswith("https://")
    status, doc = await infer(server.url, client_ctx(pki))
    assert status == 200 and doc["outputs"][0]["data"] == [2.0, 4.0]
    with pytest.raises(aiohttp.ClientError):
        await infer(server.url.replace("https://", "http://"), None)


async def test_minimum_tls_version_is_enforced(gateway, pki, onnx_models):
    from isthmus.gateway.tls import server_ssl_context

    cfg = tls_config(pki, onnx_models, mtls=False)
    assert server_ssl_context(cfg.listener.tls).minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = client_ctx(pki, max_version=ssl.TLSVersion.TLSv1_2)
    server = await gateway(cfg)
    assert (await infer(server.url, tls12))[0] == 200
    strict = cfg.model_copy(update={"listener": cfg.listener.model_copy(
        update={"tls": cfg.listener.tls.model_copy(update={"min_version": "1.3"})})})
    server13 = await gateway(strict)
    with pytest.raises(aiohttp.ClientError):
        await infer(server13.url, tls12)
    assert (await infer(server13.url, client_ctx(pki)))[0] == 200


async def test_mtls_requires_a_client_certificate_from_the_ca(gateway, pki, onnx_models):
    server = await gateway(tls_config(pki, onnx_models, mtls=True))
    status, _ = await infer(server.url, client_ctx(pki, "client.pem"))
    assert status == 200
    with pytest.raises(aiohttp.ClientError):
        await infer(server.url, client_ctx(pki))
    with pytest.raises(aiohttp.ClientError):
        await infer(server.url, client_ctx(pki, "rogue.pem"))
