"""The gateway's ADS client: one state-of-the-world stream to the control plane over grpc.aio.

The protocol logic is :class:`isthmus.xds.client_sotw.Subscriber` (no gRPC); this module moves
its requests and the control plane's responses, hands each complete resource set to ``apply``
(which returns None, or the reason to NACK), and reconnects when the stream ends: a fresh
channel after a capped exponential :class:`~isthmus.xds.backoff.Backoff` delay, reset once a
stream has delivered something. ``sleep`` and the backoff's ``random`` are injected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Awaitable, Callable, Mapping

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from isthmus.xds.backoff import Backoff
from isthmus.xds.client_sotw import Resources, Subscriber

log = logging.getLogger(__name__)

Apply = Callable[[Resources, Mapping[str, str]], Awaitable["str | None"]]
"""Apply a complete resource set (with its per-type versions); return None, or why it is NACKed."""

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 330_000),  # above the servers' default minimum ping interval (5 min)
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.max_receive_message_length", 64 * 2**20),
]


class XdsClient:
    def __init__(
        self,
        target: str,
        node: base_pb2.Node,
        apply: Apply,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_stream_end: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self.node = node
        self._apply = apply
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._on_stream_end = on_stream_end or (lambda reason: None)
        self._known: dict[str, str] = {}
        self.connected = False
        self.streams = 0  # stream attempts so far

    @property
    def accepted_versions(self) -> dict[str, str]:
        """The version ACKed last, per resource type URL (a copy: the admin API's config dump)."""
        return dict(self._known)

    async def run(self) -> None:
        """Follow the control plane until cancelled."""
        failures = 0
        while True:
            self.streams += 1
            delivered, reason = await self._stream_once()
            self.connected = False
            self._on_stream_end(reason)
            failures = 0 if delivered else failures + 1
            delay = self._backoff.delay(max(failures - 1, 0))
            level = logging.INFO if failures > 1 else logging.WARNING  # the rest of an outage at info
            log.log(level, "xDS stream to %s ended (%s); reconnecting in %.2fs", self.target, reason, delay)
            await self._sleep(delay)

    async def _stream_once(self) -> tuple[bool, str]:
        """One stream, until it ends; returns whether it delivered a response, and why it ended."""
        sub = Subscriber(self.node, self._known)
        out: asyncio.Queue[discovery_pb2.DiscoveryRequest] = asyncio.Queue()
        for req in sub.initial_requests():
            out.put_nowait(req)
        delivered, reason = False, "closed by the control plane"
        async with grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS) as channel:
            call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources(_drain(out))
            try:
                async for resp in call:
                    if not delivered:
                        delivered, self.connected = True, True
                        log.info("xDS stream to %s up (node %r)", self.target, self.node.id)
                    step = sub.receive(resp)
                    for req in step.requests:
                        out.put_nowait(req)
                    if step.complete is not None:
                        error = await self._apply(step.complete, step.versions)
                        out.put_nowait(sub.resolve(error))
                    self._known = sub.accepted_versions
            except grpc.aio.AioRpcError as exc:
                reason = f"{exc.code().name}: {exc.details()}"
            finally:
                call.cancel()
        return delivered, reason


async def _drain(queue: asyncio.Queue[discovery_pb2.DiscoveryRequest]) -> AsyncIterator[discovery_pb2.DiscoveryRequest]:
    while True:
        yield await queue.get()


def gateway_node(node_id: str, cluster: str = "") -> base_pb2.Node:
    """The node an Isthmus gateway announces: ``cluster`` picks its group on the control plane."""
    from isthmus import __version__

    return base_pb2.Node(id=node_id, cluster=cluster, user_agent_name="isthmus", user_agent_version=__version__)
