"""Who is connected and what each has ACKed or NACKed (implements ``base.StreamCallbacks``).

Also answers the rollout's question "has every client of this group taken these versions?"
(:meth:`ClientRegistry.wait_synced`) in O(1) per ACK, so a thousand clients stay cheap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from isthmus.xds import type_urls
from isthmus.xds.base import NodeInfo


@dataclass(slots=True)
class TypeStatus:
    sent_version: str = ""
    sent_nonce: str = ""
    acked_version: str = ""
    nacks: int = 0
    last_nack: dict[str, Any] | None = None


@dataclass(slots=True)
class ClientStatus:
    stream_id: int
    kind: str
    connected_at: float
    node: NodeInfo | None = None
    types: dict[str, TypeStatus] = field(default_factory=dict)


@dataclass(slots=True)
class _Waiter:
    targets: Mapping[str, str]
    pending: set[tuple[int, str]]
    done: asyncio.Event


class ClientRegistry:
    def __init__(self, group_of: Callable[[NodeInfo], str], clock: Callable[[], float]) -> None:
        self._group_of = group_of
        self._clock = clock
        self._clients: dict[int, ClientStatus] = {}
        self._waiters: list[_Waiter] = []
        self.nack_total = 0

    # --- StreamCallbacks ---------------------------------------------------------------------

    def on_stream_open(self, stream_id: int, kind: str) -> None:
        self._clients[stream_id] = ClientStatus(stream_id, kind, self._clock())

    def on_stream_close(self, stream_id: int) -> None:
        self._clients.pop(stream_id, None)
        for w in self._waiters:
            for t in w.targets:
                self._settle(w, stream_id, t)

    def on_node(self, stream_id: int, node: NodeInfo) -> None:
        self._clients[stream_id].node = node

    def on_request(self, stream_id: int, type_url: str) -> None:
        self._clients[stream_id].types.setdefault(type_url, TypeStatus())

    def on_response(self, stream_id: int, type_url: str, version: str, nonce: str) -> None:
        ts = self._clients[stream_id].types.setdefault(type_url, TypeStatus())
        ts.sent_version, ts.sent_nonce = version, nonce

    def on_ack(self, stream_id: int, type_url: str, version: str) -> None:
        self._clients[stream_id].types[type_url].acked_version = version
        self._progress(stream_id, type_url, version)

    def on_nack(self, stream_id: int, type_url: str, version: str, detail: str) -> None:
        ts = self._clients[stream_id].types[type_url]
        ts.nacks += 1
        ts.last_nack = {"version": version, "error_detail": detail, "at": self._clock()}
        self.nack_total += 1
        self._progress(stream_id, type_url, version)

    # --- rollout -----------------------------------------------------------------------------

    async def wait_synced(self, group: str, targets: Mapping[str, str], timeout: float) -> list[str]:
        """Wait until every client of ``group`` has ACKed (or NACKed) ``targets`` (type -> version)
        for each type it subscribes to; returns the clients still lagging at ``timeout`` (empty
        when all are done). Clients that connect meanwhile get the newest snapshot anyway."""
        pending = {
            (sid, t)
            for sid, c in self._clients.items()
            if c.node is not None and self._group_of(c.node) == group
            for t, v in targets.items()
            if t in c.types and c.types[t].acked_version != v and (c.types[t].last_nack or {}).get("version") != v
        }
        if not pending:
            return []
        waiter = _Waiter(targets, pending, asyncio.Event())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter.done.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.remove(waiter)
        return sorted({self._describe(sid) for sid, _ in waiter.pending})

    def _progress(self, stream_id: int, type_url: str, version: str) -> None:
        for w in self._waiters:
            if w.targets.get(type_url) == version:
                self._settle(w, stream_id, type_url)

    @staticmethod
    def _settle(w: _Waiter, stream_id: int, type_url: str) -> None:
        w.pending.discard((stream_id, type_url))
        if not w.pending:
            w.done.set()

    def _describe(self, sid: int) -> str:
        c = self._clients.get(sid)
        return f"stream {sid} node {c.node.id!r}" if c is not None and c.node is not None else f"stream {sid}"

    # --- status ------------------------------------------------------------------------------

    def clients(self) -> list[dict[str, Any]]:
        out = []
        for c in self._clients.values():
            out.append({
                "stream": c.stream_id,
                "kind": c.kind,
                "connected_at": c.connected_at,
                "node_id": c.node.id if c.node else None,
                "node_cluster": c.node.cluster if c.node else None,
                "group": self._group_of(c.node) if c.node else None,
                "types": {
                    type_urls.SHORT.get(t, t): {
                        "sent_version": s.sent_version,
                        "acked_version": s.acked_version,
                        "nacks": s.nacks,
                        "last_nack": s.last_nack,
                    }
                    for t, s in c.types.items()
                },
            })  # fmt: skip
        return out

    def __len__(self) -> int:
        return len(self._clients)
