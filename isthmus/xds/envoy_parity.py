"""What Envoy (or a proxyless gRPC client) will not honour of a traffic config. Pure.

The control plane maps what these clients can do (weights, override and sticky headers, model
rename by path rewrite, version selection, the gateway's 400/404 answers, health answers: see
:mod:`isthmus.xds.routes` and :mod:`isthmus.xds.direct`). Everything else an Isthmus gateway does is listed here, per route
and per feature, for ``isthmus validate --for envoy|grpc`` and the control plane's ``/status``
(docs/xds.md, "What Envoy honours").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from isthmus.config import Config, RouteConfig
from isthmus.config.model import OnnxBackendConfig
from isthmus.xds.rename import FORMS, native_forms, target
from isthmus.xds.routes import label

Client = Literal["envoy", "grpc"]
CLIENTS: tuple[Client, ...] = ("envoy", "grpc")
GRPC_V2 = "kserve-v2-grpc"  # the service (inference.GRPCInferenceService) gRPC apps call


@dataclass(frozen=True, slots=True)
class Gap:
    """One setting the client does not apply: ``route`` None for the config as a whole."""

    route: str | None
    feature: str
    detail: str

    def __str__(self) -> str:
        scope = f"route '{self.route}'" if self.route is not None else "config"
        return f"{scope}: {self.feature}: {self.detail}"

    def as_dict(self) -> dict[str, str | None]:
        return {"route": self.route, "feature": self.feature, "detail": self.detail}


def gaps(config: Config, client: Client = "envoy") -> list[Gap]:
    """Every setting of ``config`` that ``client`` does not honour, config-wide first, then per route."""
    out: list[Gap] = []
    if client == "envoy" and config.listener.grpc_address is not None:
        out.append(Gap(None, "grpc-ingress", f"Envoy serves the REST listener only; listener.grpc_address "
                                             f"{config.listener.grpc_address} (V2 gRPC ingress) is not served"))  # fmt: skip
    for r in config.routes:
        out += _variants(config, r, client)
        out += _route(config, r, client)
    return out


def report(config: Config) -> dict[str, list[dict[str, str | None]]]:
    """``{client: [gap, ...]}`` for ``/status``."""
    return {c: [g.as_dict() for g in gaps(config, c)] for c in CLIENTS}


def _variants(config: Config, r: RouteConfig, client: Client) -> list[Gap]:
    out: list[Gap] = []
    for v in r.variants:
        b = config.backend(v.backend)
        name = f"variant '{b.name}'"
        if isinstance(b, OnnxBackendConfig):
            out.append(Gap(r.model, "onnx", f"{name} runs in the gateway (ONNX): it has no endpoint, so "
                                            f"{'Envoy answers 503' if client == 'envoy' else 'calls fail UNAVAILABLE'}"))  # fmt: skip
            continue
        if client == "envoy":
            out += _envoy_dialects(r, b.name, b.protocol)
            paths = sorted({urlsplit(u).path for u in b.endpoints} - {"", "/"})
            if paths:
                out.append(Gap(r.model, "endpoint-path", f"{name}: Envoy ignores the endpoints' base path "
                                                         f"{', '.join(paths)} (it sends the app's path)"))  # fmt: skip
            t = target(config, r, b.name)
            if t is not None and t.model != r.model:
                out.append(Gap(r.model, "answer-names", f"{name}: answers name the backend's model '{t.model}', "
                                                        f"not '{r.model}' (Envoy rewrites the path, not bodies)"))  # fmt: skip
        else:
            if b.protocol != GRPC_V2:
                out.append(Gap(r.model, "translation", f"{name} speaks {b.protocol}, not the V2 gRPC service the "
                                                       f"client calls: no translation, the call fails"))  # fmt: skip
            elif (b.model or r.model) != r.model or b.version is not None:
                out.append(Gap(r.model, "model-rename", f"{name}: the client sends model '{r.model}' in its "
                                                        f"messages; the backend's model '{b.model or r.model}' "
                                                        f"and version {b.version!r} are not applied"))  # fmt: skip
    return out


def _envoy_dialects(r: RouteConfig, name: str, protocol: str) -> list[Gap]:
    native = native_forms(protocol)
    if not native:
        what = "a gRPC service" if protocol.endswith("-grpc") else f"its own JSON ({protocol})"
        return [Gap(r.model, "translation", f"variant '{name}' speaks {what}; Envoy forwards the app's "
                                            f"/v2/models/{r.model}... or /v1/models/{r.model}... request "
                                            f"unchanged: the variant fails")]  # fmt: skip
    others = [f for f in FORMS if f.name not in native]
    if not others:
        return []
    paths = " and ".join(f"{f.prefix}{r.model}..." for f in others)
    return [Gap(r.model, "translation", f"variant '{name}' ({protocol}) answers {'/'.join(native)} requests only; "
                                        f"{paths} requests reach it untranslated and fail")]  # fmt: skip


def _route(config: Config, r: RouteConfig, client: Client) -> list[Gap]:
    who = "Envoy" if client == "envoy" else "a proxyless gRPC client"
    out: list[Gap] = []
    if client == "grpc" and r.override_header:
        out.append(Gap(r.model, "unknown-override", f"an {r.override_header} value naming no variant fails "
                                                    f"UNAVAILABLE 'Matching route has inappropriate action' (a "
                                                    f"gateway answers INVALID_ARGUMENT naming the variants)"))  # fmt: skip
    if r.fallback is not None:
        out.append(Gap(r.model, "fallback", f"{who} does not retry on '{r.fallback}' when a variant fails"))
    if r.cache.enabled:
        out.append(Gap(r.model, "cache", f"answers are not cached by {who}"))
        if r.cache.coalesce:
            out.append(Gap(r.model, "coalescing", f"identical requests in flight are not coalesced by {who}"))
    if r.sticky_header:
        out.append(Gap(r.model, "sticky-hash", f"{who} hashes {r.sticky_header} onto a ring (RING_HASH), not "
                                               f"Isthmus' weighted rendezvous hash: a user may land on another "
                                               f"variant than at a gateway, and a weight change moves more users"))  # fmt: skip
    labels = sorted({lbl for v in r.variants if (lbl := label(config, v)) is not None})
    if labels and client == "grpc":
        out.append(Gap(r.model, "version-selection", f"{who} does not pick variants by the request's version "
                                                     f"(versions {', '.join(labels)}): every call goes through the "
                                                     f"whole split, and an unknown version is not NOT_FOUND"))  # fmt: skip
    elif labels:
        out.append(Gap(r.model, "version-labels", f"Envoy picks variants by /versions/V, not by TF Serving's "
                                                  f"/v1/models/{r.model}/labels/L: such a request goes through the "
                                                  f"whole split"))  # fmt: skip
    timeouts = {config.backend(v.backend).timeout for v in r.variants}
    if client == "grpc":
        out.append(Gap(r.model, "timeout", "gRPC clients ignore route timeouts: the backends' timeouts "
                                           f"({', '.join(f'{t:g} s' for t in sorted(timeouts))}) are not applied, "
                                           "only the call's own deadline"))  # fmt: skip
    elif len(timeouts) > 1:
        out.append(Gap(r.model, "timeout", f"one timeout per route: {who} applies the largest of the variants' "
                                           f"backends ({max(timeouts):g} s) to every variant"))  # fmt: skip
    return out
