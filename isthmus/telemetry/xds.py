"""The xDS follower, counting its answers to the control plane (``isthmus.xds.updates``)."""

from __future__ import annotations

from typing import Any, Mapping

from isthmus.xds.follower import Follower


class CountedFollower(Follower):
    """A :class:`Follower` that counts the ACKs and NACKs it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.acks = 0
        self.nacks_total = 0
        super().__init__(*args, **kwargs)

    async def apply(self, resources: Any, versions: Mapping[str, str]) -> str | None:
        error = await super().apply(resources, versions)
        if error is None:
            self.acks += 1
        else:
            self.nacks_total += 1
        return error
