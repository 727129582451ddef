"""The watched config directory: each valid ``<group>.yaml`` becomes the snapshot of that node group.

A file is parsed by the gateway's own loader (:func:`isthmus.config.parse_config`), turned into
resources and checked for consistency; an invalid file is never served (its group keeps its last
good snapshot) and its errors, naming file, line and field, are logged and kept for ``/status``.
A valid change is rolled out make-before-break (:func:`isthmus.xds.snapshot.staged`): between
stages the rollout waits until every client of the group has ACKed (or NACKed) the stage.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from isthmus.config import ConfigError, parse_config
from isthmus.xds import envoy_parity
from isthmus.xds.cache import SnapshotCache
from isthmus.xds.errors import XdsError
from isthmus.xds.resources import resources_from_config
from isthmus.xds.snapshot import Snapshot, staged
from isthmus.xds.status import ClientRegistry
from isthmus.xds.type_urls import SHORT

log = logging.getLogger(__name__)
SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class FileStatus:
    path: str
    group: str
    fingerprint: tuple[int, int, int] = (0, 0, 0)
    digest: str = ""
    served_digest: str = ""
    errors: list[str] = field(default_factory=list)
    checked_at: float = 0.0
    served_at: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    not_honoured: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    """Per client kind (envoy, grpc), what it will not apply of the file served (envoy_parity)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "group": self.group,
            "valid": not self.errors,
            "errors": self.errors,
            "checked_at": self.checked_at,
            "served_at": self.served_at,
            "versions": self.versions,
            "not_honoured": self.not_honoured,
        }


class ConfigDirectory:
    def __init__(
        self,
        directory: str | Path,
        cache: SnapshotCache,
        registry: ClientRegistry,
        clock: Callable[[], float],
        stage_timeout: float = 2.0,
    ) -> None:
        self.directory = Path(directory)
        self._cache = cache
        self._registry = registry
        self._clock = clock
        self._stage_timeout = stage_timeout
        self.files: dict[str, FileStatus] = {}

    async def run(self, interval: float = 0.05) -> None:
        """Scan every ``interval`` seconds until cancelled."""
        while True:
            await self.scan()
            await asyncio.sleep(interval)

    async def scan(self) -> None:
        """Load what changed since the last scan; forget groups whose file is gone."""
        present = set()
        for path in sorted(p for p in self.directory.iterdir() if p.suffix in SUFFIXES and p.is_file()):
            group = path.stem
            present.add(group)
            self._cache.reserve(group)
            st = self.files.setdefault(group, FileStatus(str(path), group))
            try:
                stat = path.stat()
                fingerprint = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
                if fingerprint == st.fingerprint:
                    continue
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self._invalid(st, [f"{path}: cannot read file: {exc}"])
                continue
            st.fingerprint = fingerprint
            digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
            if digest == st.digest:
                continue
            st.digest = digest
            await self._load(st, path, text)
        for group in sorted(set(self.files) - present):
            log.warning("%s is gone: group %r is no longer served", self.files[group].path, group)
            del self.files[group]
            self._cache.clear(group)

    async def _load(self, st: FileStatus, path: Path, text: str) -> None:
        st.checked_at = self._clock()
        try:
            config = parse_config(text, str(path), path.resolve().parent)
            snapshot = Snapshot.build(resources_from_config(config))
        except ConfigError as exc:
            self._invalid(st, [str(i) for i in exc.issues])
            return
        except XdsError as exc:
            self._invalid(st, [f"{path}: {exc}"])
            return
        st.errors = []
        await self.rollout(st.group, snapshot)
        st.served_digest, st.served_at = st.digest, self._clock()
        st.versions = {SHORT[t]: v for t, v in snapshot.versions.items()}
        st.not_honoured = envoy_parity.report(config)
        if st.not_honoured["envoy"]:
            log.info("%s: %d setting(s) Envoy will not honour (see /status or isthmus validate --for envoy)",
                     path, len(st.not_honoured["envoy"]))  # fmt: skip
        log.info("%s: serving group %r (%s)", path, st.group, ", ".join(f"{k} {v}" for k, v in st.versions.items()))

    def _invalid(self, st: FileStatus, errors: list[str]) -> None:
        st.errors, st.checked_at = errors, self._clock()
        kept = "keeping the last good version" if st.served_at is not None else "group not served"
        for e in errors:
            log.error("%s", e)
        log.error("%s is invalid (%d problem(s)): %s", st.path, len(errors), kept)

    async def rollout(self, group: str, snapshot: Snapshot) -> None:
        stages = staged(self._cache.snapshot(group), snapshot)
        for i, stage in enumerate(stages):
            self._cache.set_snapshot(group, stage)
            if i < len(stages) - 1:
                lagging = await self._registry.wait_synced(group, stage.versions, self._stage_timeout)
                if lagging:
                    log.warning("group %r stage %d: going on without %s", group, i + 1, ", ".join(lagging))
