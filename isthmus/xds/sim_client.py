"""A small in-process ADS client (SotW or delta) that ACKs or NACKs what it receives.

For tests and for the benchmark's simulated fleet; not the gateway's xDS client. ``judge`` sees
each response's resources (name -> ``Any``) and returns an error text to NACK, or None to ACK.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2

from isthmus.xds import type_urls

Judge = Callable[[str, dict[str, any_pb2.Any]], "str | None"]


@dataclass
class Received:
    version: str
    nonce: str
    resources: dict[str, any_pb2.Any]
    removed: list[str] = field(default_factory=list)


class SimClient:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        node_id: str,
        node_cluster: str = "",
        delta: bool = False,
        names: dict[str, list[str]] | None = None,
        judge: Judge | None = None,
    ) -> None:
        self.node = base_pb2.Node(id=node_id, cluster=node_cluster)
        self.delta = delta
        self.names = names or {}
        self.judge = judge or (lambda t, r: None)
        self._stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        self._out: asyncio.Queue = asyncio.Queue()
        self.received: dict[str, list[Received]] = {}
        self.accepted: dict[str, str] = {}  # type -> last version ACKed
        self.state: dict[str, dict[str, any_pb2.Any]] = {}  # type -> name -> resource (accepted)
        self.changed = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._call = None

    def start(self, types: tuple[str, ...] = type_urls.ORDER) -> None:
        for t in types:
            self.request(t, self.names.get(t, []), first=True)
        self._task = asyncio.create_task(self._run())

    def request(self, type_url: str, names: list[str], first: bool = False, nonce: str = "") -> None:
        """Send a (subscription) request; ``nonce`` lets a test send a stale one on purpose."""
        self.names[type_url] = names
        if self.delta:
            req = discovery_pb2.DeltaDiscoveryRequest(type_url=type_url, response_nonce=nonce)
            req.resource_names_subscribe.extend(names)
        else:
            last = self.received.get(type_url, [])
            req = discovery_pb2.DiscoveryRequest(
                type_url=type_url,
                resource_names=names,
                version_info=self.accepted.get(type_url, ""),
                response_nonce=nonce or (last[-1].nonce if last and not first else ""),
            )
        if first:
            req.node.CopyFrom(self.node)
        self._out.put_nowait(req)

    async def _requests(self):  # type: ignore[no-untyped-def]
        while True:
            yield await self._out.get()

    async def _run(self) -> None:
        call = self._stub.DeltaAggregatedResources if self.delta else self._stub.StreamAggregatedResources
        self._call = call(self._requests())
        async for resp in self._call:
            t = resp.type_url
            if self.delta:
                resources = {r.name: r.resource for r in resp.resources}
                rec = Received(resp.system_version_info, resp.nonce, resources, list(resp.removed_resources))
            else:
                rec = Received(resp.version_info, resp.nonce, {_name(a): a for a in resp.resources})
            self.received.setdefault(t, []).append(rec)
            error = self.judge(t, rec.resources)
            if error is None:
                if self.delta:
                    state = self.state.setdefault(t, {})
                    state.update(rec.resources)
                    for n in rec.removed:
                        state.pop(n, None)
                else:
                    self.state[t] = rec.resources
                self.accepted[t] = rec.version
            self._out.put_nowait(self._reply(t, rec, error))
            async with self.changed:
                self.changed.notify_all()

    def _reply(self, t: str, rec: Received, error: str | None):  # type: ignore[no-untyped-def]
        if self.delta:
            req = discovery_pb2.DeltaDiscoveryRequest(type_url=t, response_nonce=rec.nonce)
        else:
            req = discovery_pb2.DiscoveryRequest(
                type_url=t, response_nonce=rec.nonce, version_info=self.accepted.get(t, ""),
                resource_names=self.names.get(t, []),
            )  # fmt: skip
        if error is not None:
            req.error_detail.code = 3
            req.error_detail.message = error
        return req

    async def wait(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        async def until() -> None:
            async with self.changed:
                await self.changed.wait_for(pred)

        await asyncio.wait_for(until(), timeout)

    async def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, grpc.aio.AioRpcError):
                pass


def _name(a: any_pb2.Any) -> str:
    """Every resource type here has its name in field 1 (``name``/``cluster_name``)."""
    msg = type_urls.message_class(a.type_url)()
    a.Unpack(msg)
    return getattr(msg, "name", "") or getattr(msg, "cluster_name", "")
