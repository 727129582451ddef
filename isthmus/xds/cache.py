"""Snapshots per node group, and the watches waiting on them (implements ``base.ConfigWatcher``).

A node's group is its ``node.cluster`` when a snapshot exists (or is reserved) under that name,
else ``default``. A reserved group without a snapshot yet (its file exists but was never valid)
keeps its nodes waiting rather than giving them another group's config.
Setting a snapshot answers the waiting watches in CDS, EDS, LDS, RDS order, so on each stream a
new cluster always arrives before a route that names it.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Callable, Union

from isthmus.xds import type_urls
from isthmus.xds.base import (
    Cancel,
    DeltaResponse,
    DeltaWatchRequest,
    NodeInfo,
    Response,
    WatchRequest,
)
from isthmus.xds.snapshot import Snapshot

log = logging.getLogger(__name__)
DEFAULT_GROUP = "default"
_RANK = {t: i for i, t in enumerate(type_urls.ORDER)}


@dataclass(slots=True)
class _Watch:
    request: Union[WatchRequest, DeltaWatchRequest]
    respond: Callable  # type: ignore[type-arg]


class SnapshotCache:
    def __init__(self, default_group: str = DEFAULT_GROUP) -> None:
        self._default = default_group
        self._snapshots: dict[str, Snapshot] = {}
        self._reserved: set[str] = set()
        self._watches: dict[int, _Watch] = {}
        self._ids = itertools.count()

    # --- the source side ---------------------------------------------------------------------

    def group_of(self, node: NodeInfo) -> str:
        known = node.cluster in self._snapshots or node.cluster in self._reserved
        return node.cluster if known else self._default

    def reserve(self, group: str) -> None:
        """Declare ``group`` (its file exists) before it has a valid snapshot."""
        self._reserved.add(group)

    def snapshot(self, group: str) -> Snapshot | None:
        return self._snapshots.get(group)

    def groups(self) -> dict[str, Snapshot]:
        return dict(self._snapshots)

    def set_snapshot(self, group: str, snapshot: Snapshot) -> None:
        self._snapshots[group] = snapshot
        self._answer()

    def clear(self, group: str) -> None:
        """Forget a group: its nodes fall back to the default group from their next answer."""
        self._snapshots.pop(group, None)
        self._reserved.discard(group)
        self._answer()

    def watch_count(self) -> int:
        return len(self._watches)

    # --- the server side (ConfigWatcher) -----------------------------------------------------

    def create_watch(self, request: WatchRequest, respond: Callable[[Response], None]) -> Cancel:
        return self._add(_Watch(request, respond))

    def create_delta_watch(self, request: DeltaWatchRequest, respond: Callable[[DeltaResponse], None]) -> Cancel:
        return self._add(_Watch(request, respond))

    def _add(self, watch: _Watch) -> Cancel:
        if self._try(watch):
            return _noop
        wid = next(self._ids)
        self._watches[wid] = watch
        return lambda: self._watches.pop(wid, None) and None

    def _answer(self) -> None:
        pending = sorted(self._watches.items(), key=lambda kv: (_RANK.get(kv[1].request.type_url, 9), kv[0]))
        for wid, watch in pending:
            if wid in self._watches and self._try(watch):
                self._watches.pop(wid, None)

    def _try(self, watch: _Watch) -> bool:
        req = watch.request
        snap = self._snapshots.get(self.group_of(req.node))
        if snap is None:
            return False
        answer = sotw_answer(snap, req) if isinstance(req, WatchRequest) else delta_answer(snap, req)
        if answer is None:
            return False
        watch.respond(answer)
        return True


def _noop() -> None:
    pass


def sotw_answer(snap: Snapshot, req: WatchRequest) -> Response | None:
    version = snap.version(req.type_url)
    if version == req.known_version and not _asks_more(req.names, req.known_names):
        return None
    resources = snap.get(req.type_url)
    if req.names is None:
        chosen = [r for r in resources.values() if r.wildcard]
    else:
        chosen = [resources[n] for n in sorted(req.names) if n in resources]
    return Response(req.type_url, version, chosen)


def _asks_more(names: frozenset[str] | None, known: frozenset[str] | None) -> bool:
    if names is None:
        return known is not None
    return known is not None and not names <= known


def delta_answer(snap: Snapshot, req: DeltaWatchRequest) -> DeltaResponse | None:
    resources = snap.get(req.type_url)
    wanted = {n for n, r in resources.items() if r.wildcard} if req.wildcard else set()
    wanted |= req.names & resources.keys()
    changed = [resources[n] for n in sorted(wanted) if req.known.get(n) != resources[n].version]
    tracked = (req.known.keys() & req.names) | (req.known.keys() if req.wildcard else set())
    removed = sorted(n for n in tracked if n not in resources)
    version = snap.version(req.type_url)
    if not changed and not removed and version == req.known_version:
        return None
    return DeltaResponse(req.type_url, version, changed, removed)
