"""One immutable generation of routing config: route table + backend clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from isthmus.backends import Backend
from isthmus.config import BackendConfig, Config
from isthmus.router import RouteTable


@dataclass(frozen=True, slots=True)
class GatewayState:
    """Swapped whole when config changes; a request keeps the generation it started with."""

    config: Config
    routes: RouteTable
    backends: Mapping[str, Backend]
    version: str
    source: str
    backend_configs: Mapping[str, BackendConfig]
    #: backend -> the input names declared in its config (backends that declare some): checked before a call
    declared_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, backends: Mapping[str, Backend], version: str, source: str) -> GatewayState:
        configs = {b.name: b for b in config.backends}
        declared = {b.name: tuple(s.name for s in b.inputs) for b in config.backends if getattr(b, "inputs", None)}
        return cls(config, RouteTable.from_config(config), dict(backends), version, source, configs, declared)

    def backend_version(self, name: str) -> str | None:
        return self.backend_configs[name].version

    def backend_timeout(self, name: str) -> float:
        return self.backend_configs[name].timeout
