"""The engine over the gRPC transport: exact counts, per-variant counts from metadata, error kinds
(kept out of the latency histograms), TLS, and a run against the real Isthmus gRPC ingress."""

from __future__ import annotations

import asyncio
import io
import socket
from collections import Counter
from typing import AsyncIterator, Awaitable, Callable

import grpc
import numpy as np
import pytest
import trustme

from isthmus.codecs import v2_grpc as codec
from isthmus.loadtest import schedule
from isthmus.loadtest.grpc_client import GrpcTargetError, GrpcTransport, parse_target
from isthmus.loadtest.results import RunResult
from isthmus.loadtest.workers import LoadOptions, LoadOptionsError, run_load
from isthmus.loadtest.workload import WorkloadError, WorkloadSpec, build_requests
from tests.waiting import until

pb = codec.pb
Handler = Callable[[pb.ModelInferRequest, grpc.aio.ServicerContext], Awaitable[pb.ModelInferResponse]]
Serve = Callable[..., Awaitable[str]]
GRPC = WorkloadSpec(protocol="v2-grpc", model="m")


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(handler, tls=None)`` -> the grpc:// (or grpcs://) URL of a ModelInfer server on 127.0.0.1."""
    servers: list[grpc.aio.Server] = []

    async def start(handler: Handler, tls: tuple[bytes, bytes] | None = None) -> str:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        method = grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=pb.ModelInferRequest.FromString,
            response_serializer=pb.ModelInferResponse.SerializeToString)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "inference.GRPCInferenceService", {"ModelInfer": method}),))
        if tls is None:
            port = server.add_insecure_port("127.0.0.1:0")
        else:
            port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([tls]))
        await server.start()
        servers.append(server)
        return f"{'grpcs' if tls else 'grpc'}://127.0.0.1:{port}"

    yield start
    for s in servers:
        await s.stop(None)


def no_latency(result: RunResult) -> bool:
    return result.latency.get_total_count() == 0 and result.service_time.get_total_count() == 0 and not result.variants


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_exact_counts_variants_and_intervals(serve: Serve) -> None:
    seen: list[pb.ModelInferRequest] = []
    metadata: list[dict[str, str]] = []

    async def handler(request: pb.ModelInferRequest, context: grpc.aio.ServicerContext) -> pb.ModelInferResponse:
        seen.append(request)
        metadata.append({k: v for k, v in context.invocation_metadata()})
        variant = "blue" if len(seen) % 4 else "green"
        await context.send_initial_metadata((("x-isthmus-backend", variant),))
        return pb.ModelInferResponse(model_name=request.model_name)

    url = await serve(handler)
    spec = WorkloadSpec(protocol="v2-grpc", model="m", shape=(2, 3), headers=(("X-Tenant", "t1"),), users=5)
    result = await run_load(LoadOptions(url, schedule.constant(200, 1.5), connections=3, workload=spec))
    assert (result.intended, result.sent, result.ok, sum(result.errors.values())) == (300, 300, 300, 0)
    assert len(seen) == 300
    first = codec.decode_request(seen[0])
    assert seen[0].model_name == "m" and first.inputs[0].data.shape == (2, 3) and first.inputs[0].datatype == "FP32"
    assert len({r.raw_input_contents[0] for r in seen}) == 300  # distinct inputs (distinct=1.0)
    assert all(md["x-tenant"] == "t1" and md["x-user-id"].startswith("user-") for md in metadata)
    assert result.latency.get_total_count() == 300 == result.service_time.get_total_count()
    assert result.variant_counts == Counter({"blue": 225, "green": 75})
    assert {k: h.get_total_count() for k, h in result.variants.items()} == {"blue": 225, "green": 75}
    assert [(iv.start_s, iv.sent, iv.ok) for iv in result.intervals] == [(0.0, 200, 200), (1.0, 100, 100)]
    assert result.latency.get_value_at_percentile(50) >= result.service_time.get_value_at_percentile(50) * 0.9


async def test_channels_are_separate_connections(serve: Serve) -> None:
    peers: set[str] = set()

    async def handler(request, context):
        peers.add(context.peer())
        return pb.ModelInferResponse()

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(200, 0.5), connections=4, workload=GRPC))
    assert result.ok == 100
    assert len(peers) == 4  # four client ports: four TCP connections


async def test_server_status_is_an_error_kind_never_a_latency(serve: Serve) -> None:
    calls = 0

    async def handler(request, context):
        nonlocal calls
        calls += 1
        if calls % 2:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "backend down")
        if calls % 3 == 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad input")
        await context.send_initial_metadata((("x-isthmus-backend", "a"),))
        return pb.ModelInferResponse()

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(100, 0.6), connections=2, workload=GRPC))
    # calls 1..60: odd -> UNAVAILABLE (30); even and divisible by 3 -> INVALID_ARGUMENT (10); the rest ok (20)
    assert result.errors == Counter({"grpc_UNAVAILABLE": 30, "grpc_INVALID_ARGUMENT": 10})
    assert result.ok == 20 == result.latency.get_total_count() == result.variant_counts["a"]


async def test_server_that_never_answers_is_timeout(serve: Serve) -> None:
    async def handler(request, context):
        await asyncio.sleep(30)

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(50, 0.2), connections=2, timeout_s=0.3, workload=GRPC))
    assert result.sent == 10 and result.ok == 0
    assert result.errors == Counter({"timeout": 10})
    assert no_latency(result)


async def test_grace_period_end_counts_stragglers_as_timeout(serve: Serve) -> None:
    async def handler(request, context):
        await asyncio.sleep(30)

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(50, 0.2), connections=1, timeout_s=5, grace_s=0.2,
                                        workload=GRPC))
    assert result.errors == Counter({"timeout": 10}) and no_latency(result)


async def test_server_deadline_well_before_ours_is_a_server_status(serve: Serve) -> None:
    async def handler(request, context):
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "backend b timed out")

    url = await serve(handler)
    result = await run_load(LoadOptions(url, schedule.constant(50, 0.2), connections=1, workload=GRPC))
    assert result.errors == Counter({"grpc_DEADLINE_EXCEEDED": 10}) and no_latency(result)


async def test_nothing_listening_is_connect() -> None:
    url = f"grpc://127.0.0.1:{free_port()}"
    result = await run_load(LoadOptions(url, schedule.constant(50, 0.2), connections=2, timeout_s=1, workload=GRPC))
    assert result.sent == 10 and result.errors == Counter({"connect": 10})
    assert no_latency(result)


async def test_requests_file_is_converted_once(serve: Serve, tmp_path) -> None:
    got: list[pb.ModelInferRequest] = []

    async def handler(request, context):
        got.append(request)
        return pb.ModelInferResponse()

    lines = ['{"id": "r1", "inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}]}',
             '{"inputs": [{"name": "x", "datatype": "FP16", "shape": [1], "data": [0.5]}], "outputs": [{"name": "y"}]}']
    path = tmp_path / "reqs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    url = await serve(handler)
    spec = WorkloadSpec(protocol="v2-grpc", model="mm", requests_file=str(path))
    result = await run_load(LoadOptions(url, schedule.constant(100, 0.04), connections=1, workload=spec))
    assert result.ok == 4
    decoded = [codec.decode_request(r) for r in got]
    assert [r.id for r in decoded] == ["r1", None, "r1", None] and {r.model_name for r in got} == {"mm"}
    np.testing.assert_array_equal(decoded[0].inputs[0].data, [[1, 2]])
    assert decoded[1].inputs[0].datatype == "FP16" and decoded[1].outputs == ("y",)


def test_bad_requests_file_and_options(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1]}]}\n')
    with pytest.raises(WorkloadError, match="bad.jsonl:1: not a V2 request"):
        build_requests(WorkloadSpec(protocol="v2-grpc", requests_file=str(path)), __import__("random").Random(0), 1)
    for url, spec, message in (
        ("grpc://127.0.0.1:8081", WorkloadSpec(), "v2-grpc"),
        ("http://127.0.0.1:8080", GRPC, "v2-grpc"),
        ("grpc://127.0.0.1", GRPC, "needs a port"),
        ("grpc://127.0.0.1:8081/x", GRPC, "no path"),
        ("grpc://127.0.0.1:8081", WorkloadSpec(protocol="v2-grpc", path="/x"), "--path does not apply"),
    ):
        with pytest.raises(LoadOptionsError, match=message):
            LoadOptions(url, schedule.constant(1, 1), workload=spec).check()
    assert parse_target("grpcs://[::1]:443").address == "[::1]:443"
    with pytest.raises(GrpcTargetError):
        parse_target("http://x:1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("lt-grpc-pki")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    return d, (cert.private_key_pem.bytes(), b"".join(c.bytes() for c in cert.cert_chain_pems))


@pytest.mark.parametrize("how", ["cacert", "insecure", "system"])
async def test_tls(serve: Serve, pki, how: str) -> None:
    d, key_and_chain = pki

    async def handler(request, context):
        await context.send_initial_metadata((("x-isthmus-backend", "tls"),))
        return pb.ModelInferResponse()

    url = await serve(handler, tls=key_and_chain)
    options = LoadOptions(url, schedule.constant(50, 0.2), connections=1, timeout_s=2, workload=GRPC,
                          cacert=str(d / "ca.pem") if how == "cacert" else None, insecure=how == "insecure")
    result = await run_load(options)
    if how == "system":  # an unknown CA: the handshake fails, which is a connect error
        assert result.errors == Counter({"connect": 10}) and no_latency(result)
    else:
        assert result.ok == 10 and result.variant_counts == Counter({"tls": 10})


async def test_abort_all_reports_each_request_once(serve: Serve) -> None:
    arrived: list[int] = []

    async def handler(request, context):
        arrived.append(1)
        await asyncio.sleep(30)  # a server that never answers

    url = await serve(handler)
    transport = GrpcTransport(url, connections=2, timeout_s=10)
    done: list[tuple[object, str | None]] = []
    await transport.start(lambda token, status, backend, error: done.append((token, error)))
    prepared = transport.prepare(build_requests(GRPC, __import__("random").Random(0), 1)[0])
    for i in range(5):
        transport.send(prepared, i)
    await until(lambda: len(arrived) == 5, "the 5 calls to reach the server")
    transport.abort_all("timeout")
    await until(lambda: len(done) >= 5, "the 5 calls reported")
    await transport.close()
    assert sorted(done) == [(i, "timeout") for i in range(5)]


async def test_against_the_isthmus_grpc_ingress(gateway, onnx_models) -> None:
    from tests.grpc.conftest import grpc_config

    config = grpc_config(
        [{"name": "a", "protocol": "onnx", "model_path": str(onnx_models["double"])},
         {"name": "b", "protocol": "onnx", "model_path": str(onnx_models["double100"])}],
        routes=[{"model": "m", "variants": [{"backend": "a", "weight": 3}, {"backend": "b", "weight": 1}]}])
    server = await gateway(config)
    url = f"grpc://{server.grpc_target}"
    spec = WorkloadSpec(protocol="v2-grpc", model="m", shape=(1, 4))
    result = await run_load(LoadOptions(url, schedule.constant(200, 1.0), connections=2, workload=spec))
    assert (result.sent, result.ok, dict(result.errors)) == (200, 200, {})
    assert set(result.variant_counts) == {"a", "b"} and sum(result.variant_counts.values()) == 200
    assert 100 < result.variant_counts["a"] < 190
    unknown = await run_load(LoadOptions(url, schedule.constant(100, 0.1), connections=1,
                                         workload=WorkloadSpec(protocol="v2-grpc", model="nope")))
    assert unknown.errors == Counter({"grpc_NOT_FOUND": 10}) and no_latency(unknown)


def test_cli_infers_v2_grpc_and_reports(tmp_path) -> None:
    import argparse
    from concurrent.futures import ThreadPoolExecutor

    from isthmus.loadtest.cli import main_run, options_from_args, register
    from isthmus.loadtest.report_json import loads

    def parse(*argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        register(parser.add_subparsers())
        return parser.parse_args(["loadtest", "run", *argv])

    assert options_from_args(parse("grpc://127.0.0.1:8081", "--rate", "10")).workload.protocol == "v2-grpc"
    assert options_from_args(parse("http://127.0.0.1:8080", "--rate", "10")).workload.protocol == "v2"
    with pytest.raises(LoadOptionsError, match="v2-grpc"):
        options_from_args(parse("grpcs://127.0.0.1:8081", "--rate", "10", "--protocol", "v2"))

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.send_initial_metadata((("x-isthmus-backend", "sync"),))
        return b""

    server = grpc.server(ThreadPoolExecutor(4), options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService", {"ModelInfer": grpc.unary_unary_rpc_method_handler(handler)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        out = io.StringIO()
        report = tmp_path / "run.json"
        args = parse(f"grpc://127.0.0.1:{port}", "--model", "m", "--rate", "100", "--duration", "0.3s",
                     "--connections", "2", "--quiet", "--json", str(report))
        assert main_run(args, out) == 0
    finally:
        server.stop(None)
    doc = loads(report.read_text())
    assert doc["totals"]["ok"] == 30 and doc["run"]["target"] == f"grpc://127.0.0.1:{port}"
    assert doc["run"]["profile"]["protocol"] == "v2-grpc" and "sync" in out.getvalue()
