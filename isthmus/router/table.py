"""The route table: public model name -> weighted variants, and the per-request decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Mapping

from isthmus.config import Config
from isthmus.config.model import RouteCacheConfig
from isthmus.router.errors import UnknownLabel, UnknownModel, UnknownVariant, UnknownVersion
from isthmus.router.sticky import rendezvous_pick
from isthmus.router.weighted import WeightedChoice

Reason = Literal["weighted", "sticky", "override"]


@dataclass(frozen=True, slots=True)
class Variant:
    backend: str
    weight: int
    version: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one request goes: a backend name, and where to go if it fails."""

    model: str
    backend: str
    version: str | None
    reason: Reason
    fallback: str | None


class Route:
    __slots__ = (
        "model", "variants", "sticky_header", "override_header", "fallback", "cache", "versions", "_choices",
        "_decisions",
    )  # fmt: skip

    def __init__(
        self,
        model: str,
        variants: tuple[Variant, ...],
        sticky_header: str | None = None,
        override_header: str | None = None,
        fallback: str | None = None,
        cache: RouteCacheConfig = RouteCacheConfig(),
    ):
        self.model = model
        self.variants = variants
        self.sticky_header = sticky_header
        self.override_header = override_header
        self.fallback = fallback
        self.cache = cache
        self.versions: tuple[str, ...] = tuple(sorted({v.version for v in variants if v.version is not None}))
        # Decisions are immutable: made once here, none per request.
        self._decisions = {
            (id(v), reason): Decision(model, v.backend, v.version, reason, fallback if fallback != v.backend else None)
            for v in variants
            for reason in ("weighted", "sticky", "override")
        }
        # One weighted choice per version filter: None = all variants.
        self._choices: dict[str | None, tuple[tuple[Variant, ...], WeightedChoice, list[str], list[int]]] = {}
        for version in {None, *(v.version for v in variants if v.version is not None)}:
            subset = tuple(v for v in variants if version is None or v.version == version)
            if sum(v.weight for v in subset) > 0:
                weights = [v.weight for v in subset]
                self._choices[version] = (subset, WeightedChoice(weights), [v.backend for v in subset], weights)

    def decide(self, version: str | None, headers: Mapping[str, str], random: Callable[[], float]) -> Decision:
        if self.override_header is not None:
            pinned = headers.get(self.override_header)
            if pinned:
                return self._override(pinned, version)
        entry = self._choices.get(version)
        if entry is None:
            if version not in self.versions:
                known = ", ".join(self.versions) or "none"
                raise UnknownVersion(f"model '{self.model}' has no version '{version}' (known: {known})")
            raise UnknownVersion(f"version '{version}' of model '{self.model}' has no variant with traffic")
        subset, choice, names, weights = entry
        if self.sticky_header is not None:
            key = headers.get(self.sticky_header)
            if key:
                i = rendezvous_pick(key, names, weights)
                return self._decision(subset[i], "sticky")
        return self._decision(subset[choice.pick(random())], "weighted")

    def resolve_label(self, label: str) -> tuple[str | None, str | None]:
        """A TF Serving version label as ``(version, variant)``: a version of this route, else the name
        of one of its variants (a label can name a canary); :class:`UnknownLabel` for anything else."""
        if label in self.versions:
            return label, None
        if any(v.backend == label for v in self.variants):
            return None, label
        known = ", ".join([*self.versions, *(v.backend for v in self.variants)])
        raise UnknownLabel(f"model '{self.model}' has no version label '{label}' (versions and variants: {known})")

    def pin(self, variant: str, version: str | None = None) -> Decision:
        """The decision for one named variant (as the override header pins it)."""
        return self._override(variant, version)

    def _override(self, pinned: str, version: str | None) -> Decision:
        for v in self.variants:
            if v.backend == pinned:
                if version is not None and v.version != version:
                    raise UnknownVariant(
                        f"variant '{pinned}' of model '{self.model}' is version '{v.version}', not '{version}'"
                    )
                return self._decision(v, "override")
        known = ", ".join(v.backend for v in self.variants)
        raise UnknownVariant(
            f"{self.override_header}: model '{self.model}' has no variant '{pinned}' (variants: {known})"
        )

    def _decision(self, v: Variant, reason: Reason) -> Decision:
        return self._decisions[(id(v), reason)]


class RouteTable:
    """Immutable map of public model name -> :class:`Route`."""

    __slots__ = ("_routes",)

    def __init__(self, routes: Mapping[str, Route]):
        self._routes = dict(routes)

    @classmethod
    def from_config(cls, config: Config) -> RouteTable:
        routes = {}
        for r in config.routes:
            variants = tuple(
                Variant(v.backend, v.weight, v.version if v.version is not None else config.backend(v.backend).version)
                for v in r.variants
            )
            routes[r.model] = Route(r.model, variants, r.sticky_header, r.override_header, r.fallback, r.cache)
        return cls(routes)

    def route(self, model: str) -> Route:
        try:
            return self._routes[model]
        except KeyError:
            raise UnknownModel(f"unknown model '{model}'") from None

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self._routes)

    def __contains__(self, model: object) -> bool:
        return model in self._routes
