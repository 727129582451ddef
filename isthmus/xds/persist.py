"""The gateway's local copy of its last good xDS config, so a restart can serve without the
control plane.

One JSON file: ``{"isthmus_xds_snapshot": 1, "version", "versions", "node", "saved_at", "config"}``
where ``config`` is the applied :class:`~isthmus.config.Config` (``model_dump(mode="json")``,
readable and diffable). Written atomically (a temporary file in the same directory, fsync, then
rename), so a crash leaves the old file or the new one, never half of one. Loading validates it
like a config; anything wrong raises :class:`SnapshotFileError` for the caller to log and ignore.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pydantic

from isthmus.config import Config
from isthmus.xds.errors import XdsError

FORMAT = 1
KEY = "isthmus_xds_snapshot"


class SnapshotFileError(XdsError):
    """The snapshot file cannot be used (unreadable, not JSON, wrong format, invalid config)."""


@dataclass(frozen=True)
class SavedConfig:
    config: Config
    version: str
    versions: Mapping[str, str]
    node: Mapping[str, str]
    saved_at: float


class SnapshotFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def save(self, saved: SavedConfig) -> None:
        doc = {
            KEY: FORMAT,
            "version": saved.version,
            "versions": dict(saved.versions),
            "node": dict(saved.node),
            "saved_at": saved.saved_at,
            "config": saved.config.model_dump(mode="json"),
        }
        data = json.dumps(doc, indent=1, sort_keys=True).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    def load(self) -> SavedConfig | None:
        """The saved config, or None when there is no file; :class:`SnapshotFileError` when it is unusable."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SnapshotFileError(f"cannot read: {exc}") from None
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SnapshotFileError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get(KEY) != FORMAT:
            raise SnapshotFileError(f"not an Isthmus xDS snapshot (format {FORMAT})")
        try:
            config = Config.model_validate(doc.get("config"))
        except pydantic.ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"]))
            raise SnapshotFileError(
                f"invalid config: {where}: {first['msg']} ({exc.error_count()} problem(s))"
            ) from None
        return SavedConfig(
            config,
            str(doc.get("version", "")),
            _str_map(doc.get("versions")),
            _str_map(doc.get("node")),
            _float(doc.get("saved_at")),
        )


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
