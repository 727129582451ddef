"""The xDS layer's interfaces.

Server side: the one interface between the snapshot cache and the streaming server
(go-control-plane's ``ConfigWatcher``), and the callbacks the server reports stream events
through. The server turns requests into watches and watch answers into responses; it knows
nothing of files or snapshots. A watch is one-shot: it answers at most once, then the server
opens the next one when the client ACKs or NACKs.

Client side: the :class:`ConfigSink` a follower applies configs to (the gateway implements it:
``isthmus.gateway.xds_sink``; xds imports nothing of the gateway) and the
:class:`FollowerObserver` told of each answer it sends (``isthmus.xds.follower_metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, Sequence

from isthmus.config import Config
from isthmus.xds.snapshot import Resource


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    cluster: str


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """State of the world: answer when the type's version differs from ``known_version`` (the last
    version sent on this stream, ACKed *or rejected*: a NACKed version is never sent again) or when
    ``names`` asks for something the last answer did not cover."""

    node: NodeInfo
    type_url: str
    names: frozenset[str] | None  # None: wildcard
    known_version: str = ""
    known_names: frozenset[str] | None = frozenset()  # what the last answer covered (None: wildcard)


@dataclass(frozen=True, slots=True)
class Response:
    type_url: str
    version: str
    resources: Sequence[Resource]


@dataclass(frozen=True, slots=True)
class DeltaWatchRequest:
    """Incremental: answer with the resources whose version differs from ``known`` (what the
    client holds, by name) and the names it holds that are gone, or when the type version moved."""

    node: NodeInfo
    type_url: str
    wildcard: bool
    names: frozenset[str]  # explicit subscriptions
    known: Mapping[str, str] = field(default_factory=dict)  # name -> resource version
    known_version: str = ""


@dataclass(frozen=True, slots=True)
class DeltaResponse:
    type_url: str
    version: str
    resources: Sequence[Resource]
    removed: Sequence[str]


Cancel = Callable[[], None]


class ConfigWatcher(Protocol):
    def create_watch(self, request: WatchRequest, respond: Callable[[Response], None]) -> Cancel:
        """Call ``respond`` once, now or when a snapshot changes; the returned function cancels."""
        ...

    def create_delta_watch(self, request: DeltaWatchRequest, respond: Callable[[DeltaResponse], None]) -> Cancel:
        ...


class StreamCallbacks(Protocol):
    """Stream events, for status and rollout (``isthmus.xds.status.ClientRegistry``)."""

    def on_stream_open(self, stream_id: int, kind: str) -> None: ...

    def on_stream_close(self, stream_id: int) -> None: ...

    def on_node(self, stream_id: int, node: NodeInfo) -> None: ...

    def on_request(self, stream_id: int, type_url: str) -> None: ...

    def on_response(self, stream_id: int, type_url: str, version: str, nonce: str) -> None: ...

    def on_ack(self, stream_id: int, type_url: str, version: str) -> None: ...

    def on_nack(self, stream_id: int, type_url: str, version: str, detail: str) -> None: ...


class NoCallbacks:
    def on_stream_open(self, stream_id: int, kind: str) -> None:
        pass

    def on_stream_close(self, stream_id: int) -> None:
        pass

    def on_node(self, stream_id: int, node: NodeInfo) -> None:
        pass

    def on_request(self, stream_id: int, type_url: str) -> None:
        pass

    def on_response(self, stream_id: int, type_url: str, version: str, nonce: str) -> None:
        pass

    def on_ack(self, stream_id: int, type_url: str, version: str) -> None:
        pass

    def on_nack(self, stream_id: int, type_url: str, version: str, detail: str) -> None:
        pass


class ConfigSink(Protocol):
    """Where a follower puts the configs it accepts (a running gateway, or a fake in tests)."""

    @property
    def version(self) -> str:
        """The version of the config being served now."""
        ...

    def await_first(self) -> None:
        """What is served now is a placeholder: not ready until the first :meth:`apply`."""
        ...

    async def apply(self, config: Config, version: str, source: str) -> None:
        """Serve ``config`` atomically, or raise :class:`~isthmus.config.ConfigError` naming why it
        cannot (the config served before stays)."""
        ...


class FollowerObserver(Protocol):
    def answered(self, nack_reason: str | None) -> None:
        """A complete resource set was answered: ACKed (``None``) or NACKed for ``nack_reason``."""
        ...
