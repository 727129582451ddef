"""One state-of-the-world ADS stream: requests in, watches out, responses back. No gRPC here.

Per type it remembers the last response (nonce, version, names covered). A request whose
``response_nonce`` is not the latest is stale and ignored. One that carries the latest nonce ACKs
that version, or NACKs it when it has ``error_detail``; either way the next watch treats the sent
version as known, so a rejected version is never re-sent: the client keeps its last good config
and gets the next version when the files change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from envoy.service.discovery.v3 import discovery_pb2

from isthmus.xds import type_urls
from isthmus.xds.base import (
    Cancel,
    ConfigWatcher,
    NodeInfo,
    Response,
    StreamCallbacks,
    WatchRequest,
)
from isthmus.xds.errors import XdsError

log = logging.getLogger(__name__)
WILDCARD_TYPES = frozenset({type_urls.LISTENER, type_urls.CLUSTER})


class StreamError(XdsError):
    """The client broke the protocol (no node, no type URL); the stream is closed with the reason."""


@dataclass(slots=True)
class _TypeState:
    nonce: str = ""
    version: str = ""
    names: frozenset[str] | None = frozenset()
    cancel: Cancel | None = None


def node_info(node: object) -> NodeInfo:
    return NodeInfo(getattr(node, "id", ""), getattr(node, "cluster", ""))


class StreamBase:
    """What both ADS stream flavours share: identity, the node (first request), the type URL."""

    def __init__(
        self,
        stream_id: int,
        watcher: ConfigWatcher,
        callbacks: StreamCallbacks,
        send: Callable[[Any], None],
    ) -> None:
        self.id = stream_id
        self._watcher = watcher
        self._callbacks = callbacks
        self._send = send
        self._node: NodeInfo | None = None
        self._nonces = 0
        self._types: dict[str, Any] = {}  # type URL -> the flavour's per-type state

    def _type_of(self, req: Any) -> str:
        """The request's type URL, after taking the node from the stream's first request."""
        if self._node is None:
            if not req.HasField("node"):
                raise StreamError("the first request on a stream must carry the node")
            self._node = node_info(req.node)
            self._callbacks.on_node(self.id, self._node)
        if not req.type_url:
            raise StreamError("request without type_url on an aggregated stream")
        return str(req.type_url)


class SotwStream(StreamBase):
    _types: dict[str, _TypeState]

    def handle(self, req: discovery_pb2.DiscoveryRequest) -> None:
        t = self._type_of(req)
        st = self._types.setdefault(t, _TypeState())
        if req.response_nonce:
            if req.response_nonce != st.nonce:
                log.debug("stream %d: stale nonce %s for %s (latest %s)", self.id, req.response_nonce, t, st.nonce)
                return
            if req.HasField("error_detail"):
                log.warning(
                    "NACK from node %r (stream %d) for %s version %s: %s",
                    self._node.id, self.id, type_urls.SHORT.get(t, t), st.version, req.error_detail.message,
                )  # fmt: skip
                self._callbacks.on_nack(self.id, t, st.version, req.error_detail.message)
            else:
                self._callbacks.on_ack(self.id, t, st.version)
        self._callbacks.on_request(self.id, t)
        names = frozenset(req.resource_names)
        wanted = None if "*" in names or (not names and t in WILDCARD_TYPES) else names
        if st.cancel is not None:
            st.cancel()
        request = WatchRequest(self._node, t, wanted, st.version, st.names)
        st.cancel = self._watcher.create_watch(request, lambda r: self._respond(st, wanted, r))

    def _respond(self, st: _TypeState, names: frozenset[str] | None, r: Response) -> None:
        self._nonces += 1
        st.nonce, st.version, st.names, st.cancel = str(self._nonces), r.version, names, None
        out = discovery_pb2.DiscoveryResponse(version_info=r.version, type_url=r.type_url, nonce=st.nonce)
        out.resources.extend(res.packed for res in r.resources)
        self._send(out)
        self._callbacks.on_response(self.id, r.type_url, r.version, st.nonce)

    def close(self) -> None:
        for st in self._types.values():
            if st.cancel is not None:
                st.cancel()
                st.cancel = None
