"""A gateway following the control plane: xDS resources -> Config -> :class:`ConfigSink` ``.apply``.

- Each complete resource set is rebuilt into a Config (:func:`config_from_resources`) and applied
  atomically to the sink (the gateway: ``isthmus.gateway.xds_sink``); a :class:`ResourceError`
  or a :class:`ConfigError` from the sink (a backend that cannot start, e.g. an ONNX model missing
  on this machine) becomes the NACK's reason and the gateway keeps serving what it had.
- Each answer (ACK or NACK) is told to the observer when one is given (the counters of
  ``isthmus.xds.follower_metrics``).
- Every config applied from xDS is saved to the snapshot file (when one is given).
- At start the gateway is not ready (``/v2/health/ready`` 503) until a first config is applied.
  If the first stream fails (control plane unreachable) or brings no complete config within
  ``initial_timeout``, the snapshot file is served meanwhile; a later xDS config replaces it. A
  snapshot file that cannot be used is logged and ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from typing import Awaitable, Callable, Mapping

from envoy.config.core.v3 import base_pb2

from isthmus.config import ConfigError
from isthmus.xds import type_urls
from isthmus.xds.backoff import Backoff
from isthmus.xds.base import ConfigSink, FollowerObserver
from isthmus.xds.client import XdsClient
from isthmus.xds.client_sotw import Resources
from isthmus.xds.errors import ResourceError
from isthmus.xds.inverse import config_from_resources
from isthmus.xds.persist import SavedConfig, SnapshotFile, SnapshotFileError

log = logging.getLogger(__name__)


def combined_version(versions: Mapping[str, str]) -> str:
    """One version for a resource set: a hash of its per-type versions (CDS, EDS, LDS, RDS)."""
    text = "|".join(versions.get(t, "") for t in type_urls.ORDER)
    return "xds-" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Follower:
    def __init__(
        self,
        sink: ConfigSink,
        target: str,
        node: base_pb2.Node,
        snapshot: SnapshotFile | None = None,
        *,
        observer: FollowerObserver | None = None,
        initial_timeout: float = 5.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._observer = observer
        self._snapshot = snapshot
        self._initial_timeout = initial_timeout
        self._clock = clock
        self.source = f"xds {target}"
        self.client = XdsClient(target, node, self.apply, backoff=backoff, sleep=sleep, on_stream_end=self._ended)
        self._lock = asyncio.Lock()  # a snapshot load never lands on top of an xDS config
        self._from_xds = False
        self._first = asyncio.Event()  # a config applied from xDS, or a stream attempt ended
        self.nacks: deque[str] = deque(maxlen=100)  # the latest reasons, bounded
        sink.await_first()

    async def run(self) -> None:
        """Follow the control plane until cancelled (serving the snapshot file while it cannot)."""
        task = asyncio.create_task(self.client.run())
        try:
            try:
                await asyncio.wait_for(self._first.wait(), self._initial_timeout)
            except TimeoutError:
                log.warning("no complete config from %s within %.1fs", self.client.target, self._initial_timeout)
            if not self._from_xds:
                await self.load_snapshot()
            await task
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _ended(self, reason: str) -> None:
        self._first.set()

    async def apply(self, resources: Resources, versions: Mapping[str, str]) -> str | None:
        """Apply one complete resource set; None, or the reason to NACK it."""
        reason = await self._apply(resources, versions)
        if self._observer is not None:
            self._observer.answered(reason)
        return reason

    async def _apply(self, resources: Resources, versions: Mapping[str, str]) -> str | None:
        try:
            config = config_from_resources(resources)
        except ResourceError as exc:
            return self._rejected(str(exc))
        version = combined_version(versions)
        async with self._lock:
            if self._from_xds and self._sink.version == version:
                return None  # the same set again (a reconnect, or a re-sent type)
            try:
                await self._sink.apply(config, version, self.source)
            except ConfigError as exc:
                return self._rejected("; ".join(str(i) for i in exc.issues))
            except Exception as exc:  # a bug must not stop the gateway following: NACK it, keep serving
                log.exception("applying config %s from %s failed", version, self.client.target)
                return self._rejected(f"gateway error applying the config: {exc!r}")
            self._from_xds = True
        self._first.set()
        if self._snapshot is not None:
            node = {"id": self.client.node.id, "cluster": self.client.node.cluster}
            saved = SavedConfig(
                config, version, {type_urls.SHORT[t]: v for t, v in versions.items()}, node, self._clock()
            )
            try:
                await asyncio.to_thread(self._snapshot.save, saved)
            except OSError as exc:
                log.error("cannot write the xDS snapshot file %s: %s", self._snapshot.path, exc)
        return None

    def _rejected(self, reason: str) -> str:
        self.nacks.append(reason)
        log.error("config from %s rejected (NACK), keeping version %s: %s",
                  self.client.target, self._sink.version, reason)  # fmt: skip
        return reason

    async def load_snapshot(self) -> bool:
        """Serve the snapshot file's config unless a config came from xDS; False when there is none."""
        if self._snapshot is None:
            log.warning("no config from %s yet and no snapshot file: not ready", self.client.target)
            return False
        path = self._snapshot.path
        try:
            saved = await asyncio.to_thread(self._snapshot.load)
        except SnapshotFileError as exc:
            log.error("ignoring the xDS snapshot file %s: %s", path, exc)
            return False
        if saved is None:
            log.warning("no config from %s yet and no snapshot file at %s: not ready", self.client.target, path)
            return False
        async with self._lock:
            if self._from_xds:
                return False
            try:
                await self._sink.apply(saved.config, saved.version, f"snapshot {path}")
            except ConfigError as exc:
                log.error("cannot serve the xDS snapshot file %s: %s", path, exc)
                return False
        log.warning("serving the last good config %s from %s (saved at %s) until %s answers",
                    saved.version, path, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(saved.saved_at)),
                    self.client.target)  # fmt: skip
        return True
