"""One incremental (delta) ADS stream. No gRPC here.

Per type it tracks the subscription (wildcard and/or names) and what the client holds (name ->
version), updated when a response is sent. A NACK does not roll that back, so a rejected resource
version is not re-sent; the next change of that resource is. Subscription changes are applied even
on a request whose nonce is stale (they are deltas, and would otherwise be lost); only its ACK/NACK
part is ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from envoy.service.discovery.v3 import discovery_pb2

from isthmus.xds import type_urls
from isthmus.xds.base import (
    Cancel,
    DeltaResponse,
    DeltaWatchRequest,
)
from isthmus.xds.stream_sotw import WILDCARD_TYPES, StreamBase

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _TypeState:
    wildcard: bool
    nonce: str = ""
    version: str = ""
    names: set[str] = field(default_factory=set)
    known: dict[str, str] = field(default_factory=dict)
    cancel: Cancel | None = None


class DeltaStream(StreamBase):
    _types: dict[str, _TypeState]

    def handle(self, req: discovery_pb2.DeltaDiscoveryRequest) -> None:
        t = self._type_of(req)
        st = self._types.get(t)
        if st is None:
            legacy_wildcard = not req.resource_names_subscribe and t in WILDCARD_TYPES
            st = self._types[t] = _TypeState(wildcard=legacy_wildcard, known=dict(req.initial_resource_versions))
        if req.response_nonce:
            if req.response_nonce != st.nonce:
                log.debug("stream %d: stale nonce %s for %s (latest %s)", self.id, req.response_nonce, t, st.nonce)
            elif req.HasField("error_detail"):
                log.warning(
                    "NACK from node %r (delta stream %d) for %s version %s: %s",
                    self._node.id, self.id, type_urls.SHORT.get(t, t), st.version, req.error_detail.message,
                )  # fmt: skip
                self._callbacks.on_nack(self.id, t, st.version, req.error_detail.message)
            else:
                self._callbacks.on_ack(self.id, t, st.version)
        for name in req.resource_names_subscribe:
            if name == "*":
                st.wildcard = True
            else:
                st.names.add(name)
        for name in req.resource_names_unsubscribe:
            if name == "*":
                st.wildcard = False
            else:
                st.names.discard(name)
                st.known.pop(name, None)
        self._callbacks.on_request(self.id, t)
        if st.cancel is not None:
            st.cancel()
        request = DeltaWatchRequest(self._node, t, st.wildcard, frozenset(st.names), dict(st.known), st.version)
        st.cancel = self._watcher.create_delta_watch(request, lambda r: self._respond(st, r))

    def _respond(self, st: _TypeState, r: DeltaResponse) -> None:
        self._nonces += 1
        st.nonce, st.version, st.cancel = str(self._nonces), r.version, None
        out = discovery_pb2.DeltaDiscoveryResponse(system_version_info=r.version, type_url=r.type_url, nonce=st.nonce)
        for res in r.resources:
            out.resources.add(name=res.name, version=res.version).resource.CopyFrom(res.packed)
            st.known[res.name] = res.version
        for name in r.removed:
            st.known.pop(name, None)
        out.removed_resources.extend(r.removed)
        self._send(out)
        self._callbacks.on_response(self.id, r.type_url, r.version, st.nonce)

    def close(self) -> None:
        for st in self._types.values():
            if st.cancel is not None:
                st.cancel()
                st.cancel = None
