"""The watched directory: validation, last good snapshot kept, per-node groups, status, CLI."""

from __future__ import annotations

import aiohttp

from isthmus.xds import type_urls
from isthmus.xds.cli import running_control_plane
from isthmus.xds.resources import HTTP_ROUTES
from isthmus.xds.sim_client import SimClient
from tests.waiting import until
from tests.xds.helpers import doc, write
from tests.xds.test_ads import weights


async def test_invalid_change_is_never_served_and_names_file_and_field(tmp_path, caplog):
    write(tmp_path / "default.yaml", doc(weights=(90, 10)))
    async with running_control_plane(tmp_path, status_port=0, poll_interval=0.02) as cp:
        client = SimClient(__import__("grpc").aio.insecure_channel(f"127.0.0.1:{cp.port}"), "n1",
                           names={type_urls.ROUTE: [HTTP_ROUTES]})  # fmt: skip
        client.start()
        await client.wait(lambda: type_urls.ROUTE in client.accepted)
        good = client.accepted[type_urls.ROUTE]
        write(tmp_path / "default.yaml", doc(weights=(0, 0)))
        await until(lambda: cp.directory.files["default"].errors, "the control plane to reject the file")
        assert len(client.received[type_urls.ROUTE]) == 1 and client.accepted[type_urls.ROUTE] == good
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{cp.status_port}/status") as resp:
                status = await resp.json()
        f = status["files"]["default"]
        assert not f["valid"] and f["served_at"] is not None
        assert any("default.yaml:" in e and "routes[0].variants: total weight is 0" in e for e in f["errors"])
        assert status["groups"]["default"]["RDS"] == good
        assert status["clients"][0]["types"]["RDS"]["acked_version"] == good
        assert "total weight is 0" in caplog.text

        write(tmp_path / "default.yaml", doc(weights=(20, 80)))
        await client.wait(lambda: weights(client.state[type_urls.ROUTE][HTTP_ROUTES]) == [20, 80])
        assert len(client.received[type_urls.ROUTE]) == 2  # the invalid file was never served in between
        await client.close()


async def test_node_cluster_file_overrides_default(tmp_path):
    import grpc

    write(tmp_path / "default.yaml", doc(weights=(90, 10)))
    write(tmp_path / "edge.yml", doc(weights=(10, 90)))
    (tmp_path / "notes.txt").write_text("ignored")
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        ch = grpc.aio.insecure_channel(f"127.0.0.1:{cp.port}")
        names = {type_urls.ROUTE: [HTTP_ROUTES]}
        edge, other = SimClient(ch, "e1", "edge", names=names), SimClient(ch, "o1", "other", names=dict(names))
        for c in (edge, other):
            c.start()
        await edge.wait(lambda: type_urls.ROUTE in edge.state)
        await other.wait(lambda: type_urls.ROUTE in other.state)
        assert weights(edge.state[type_urls.ROUTE][HTTP_ROUTES]) == [10, 90]
        assert weights(other.state[type_urls.ROUTE][HTTP_ROUTES]) == [90, 10]
        (tmp_path / "edge.yml").unlink()  # the edge nodes fall back to default
        await edge.wait(lambda: weights(edge.state[type_urls.ROUTE][HTTP_ROUTES]) == [90, 10])
        for c in (edge, other):
            await c.close()


async def test_a_node_whose_file_is_invalid_waits_instead_of_getting_default(tmp_path):
    import grpc

    write(tmp_path / "default.yaml", doc(weights=(90, 10)))
    write(tmp_path / "edge.yaml", doc(weights=(0, 0)))
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        edge = SimClient(grpc.aio.insecure_channel(f"127.0.0.1:{cp.port}"), "e1", "edge", names={type_urls.ROUTE: [HTTP_ROUTES]})
        edge.start()
        # its requests read (a response would have been sent right then): nothing for it yet
        await until(lambda: [c for c in cp.registry.clients() if c["node_id"] == "e1" and len(c["types"]) == 4],
                    "the edge node's requests read by the control plane")
        assert edge.received == {} and cp.directory.files["edge"].errors
        write(tmp_path / "edge.yaml", doc(weights=(10, 90)))
        await edge.wait(lambda: type_urls.ROUTE in edge.state)
        assert weights(edge.state[type_urls.ROUTE][HTTP_ROUTES]) == [10, 90]
        assert len(edge.received[type_urls.ROUTE]) == 1  # never the default group's routes first
        await edge.close()


async def test_rollout_adding_a_cluster_waits_for_acks_between_stages(tmp_path):
    import grpc

    write(tmp_path / "default.yaml", doc())
    async with running_control_plane(tmp_path, poll_interval=0.02) as cp:
        client = SimClient(grpc.aio.insecure_channel(f"127.0.0.1:{cp.port}"), "n", names={type_urls.ROUTE: [HTTP_ROUTES]})
        client.start()
        await client.wait(lambda: len(client.accepted) == 4)
        moved = doc(extra_backend=True)
        moved["routes"][0]["variants"][1]["backend"] = "c"
        moved["backends"] = [b for b in moved["backends"] if b["name"] != "b"]
        write(tmp_path / "default.yaml", moved)
        await client.wait(lambda: sorted(client.state[type_urls.CLUSTER]) == ["a", "c"], timeout=5)
        # CDS: a+b+c (before the route moved to c), then a+c (after); routes changed once in between
        cds = [sorted(r.resources) for r in client.received[type_urls.CLUSTER]]
        assert cds == [["a", "b"], ["a", "b", "c"], ["a", "c"]]
        rds_times = len(client.received[type_urls.ROUTE])
        assert rds_times == 2
        await client.close()


def test_cli_refuses_a_missing_directory(tmp_path, capsys):
    from isthmus.xds.cli import main

    assert main(["control-plane", "--config-dir", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "not a directory" in capsys.readouterr().err
