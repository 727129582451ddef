"""grpcio's proxyless xDS client (``xds:///m``) on the control plane: weighted split and a live change."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from isthmus.xds.cli import running_control_plane
from tests.integration.xds.peers import REPO, named_grpc_backend, within_sigmas
from tests.processes import Process, start_process
from tests.waiting import until
from tests.xds.helpers import doc, write

N = 1000


async def ask(proc: Process, n: int, variant: str = "") -> dict[str, int]:
    proc.popen.stdin.write(f"{n} {variant}\n")
    proc.popen.stdin.flush()
    line = await asyncio.wait_for(asyncio.to_thread(proc.popen.stdout.readline), 60)
    assert line, proc.describe()
    return json.loads(line)


@pytest.mark.parametrize("sticky", [False, True], ids=["round-robin", "ring-hash"])
async def test_proxyless_grpc_splits_by_weight_and_follows_a_change(tmp_path, sticky):
    servers = [await named_grpc_backend(n) for n in ("a", "b")]
    ports = (servers[0][1], servers[1][1])
    write(tmp_path / "default.yaml", doc(weights=(80, 20), ports=ports, sticky=sticky))
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        bootstrap = tmp_path / "grpc-bootstrap.json"
        bootstrap.write_text(json.dumps({
            "xds_servers": [{"server_uri": f"127.0.0.1:{cp.port}", "channel_creds": [{"type": "insecure"}],
                             "server_features": ["xds_v3"]}],
            "node": {"id": "grpc-1", "cluster": "proxyless"},
        }))  # fmt: skip
        env = {**os.environ, "GRPC_XDS_BOOTSTRAP": str(bootstrap), "PYTHONPATH": str(REPO)}
        proc = start_process([sys.executable, "-m", "tests.integration.xds.grpc_client_proc", "xds:///m"],
                             name="grpc-client", log_dir=tmp_path, env=env, cwd=REPO, pipes=True)
        try:
            counts = await ask(proc, N)
            assert within_sigmas(counts.get("a", 0), N, 0.8), counts
            assert await ask(proc, 50, "b") == {"b": 50}  # the override header, as gRPC metadata
            # an unknown variant is refused, not split (gRPC cannot forward the route answering it)
            assert await ask(proc, 5, "zz") == {"UNAVAILABLE: Matching route has inappropriate action": 5}
            [client] = [c for c in cp.registry.clients() if c["node_id"] == "grpc-1"]
            assert set(client["types"]) == {"LDS", "RDS", "CDS", "EDS"}
            assert all(t["nacks"] == 0 for t in client["types"].values()), client
            before = client["types"]["RDS"]["acked_version"]

            write(tmp_path / "default.yaml", doc(weights=(20, 80), ports=ports, sticky=sticky))
            await until(lambda: [c for c in cp.registry.clients() if c["node_id"] == "grpc-1"][0]["types"]["RDS"]
                        ["acked_version"] != before, "the gRPC client to ACK the change", 1.0, interval=0.005)
            counts = await ask(proc, N)
            assert within_sigmas(counts.get("a", 0), N, 0.2), counts
        finally:
            proc.kill()
            for server, _ in servers:
                await server.stop(None)
