"""TF Serving's calls beyond Predict, over the data plane: Classify, Regress, model metadata and
model status. Shared by the REST (:mod:`isthmus.gateway.rest_tfserving`) and gRPC
(:mod:`isthmus.gateway.grpc_tfserving`) ingresses, which only decode and encode.

A TF Serving app names a version by number (``/versions/N``, ``ModelSpec.version``) or by label
(``/labels/L``, ``ModelSpec.version_label``); a label is a version of the route, or the name of one
of its variants (a label can pin a canary): :meth:`isthmus.router.Route.resolve_label`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from isthmus.backends import Backend, CallContext
from isthmus.backends.base import TFServingCalls
from isthmus.backends.errors import BackendUnsupported
from isthmus.codecs import CodecError, tfserving_meta
from isthmus.codecs.tfserving_examples import ExamplesRequest
from isthmus.gateway.dataplane import DataPlane
from isthmus.gateway.request_meta import RequestMeta
from isthmus.router import Route, Variant

Verb = str  # "classify" | "regress"


def resolve(route: Route, version: str | None, label: str | None) -> tuple[str | None, str | None]:
    """``(version, variant)`` for a request naming a version, a label, or neither."""
    if label:
        if version:
            raise CodecError(f"both model version ({version}) and model version label ({label}) cannot be supplied")
        return route.resolve_label(label)
    return version or None, None


async def examples(dp: DataPlane, verb: Verb, request: ExamplesRequest, meta: RequestMeta) -> tuple[Any, str]:
    """Classify or Regress on the routed variant (``meta``'s version and variant: :func:`resolve`):
    ``(ClassificationResult | RegressionResult, backend)``. A variant that is not a TF Serving
    backend answers 501 (gRPC UNIMPLEMENTED)."""

    async def call(backend: Backend, ctx: CallContext) -> Any:
        if not isinstance(backend, TFServingCalls):
            raise BackendUnsupported(
                backend.name, f"{verb} is a TensorFlow Serving call: only tfserving and tfserving-grpc backends have it"
            )
        method: Callable[[ExamplesRequest, CallContext], Awaitable[Any]] = getattr(backend, verb)
        return await method(request, ctx)

    return await dp.call_backend(meta, call, usable=_has_tfserving_calls)


def _has_tfserving_calls(backend: Backend) -> bool:
    return isinstance(backend, TFServingCalls)


def _candidates(route: Route, version: str | None, variant: str | None, traffic: bool) -> list[Variant]:
    found = [
        v
        for v in route.variants
        if (variant is None or v.backend == variant)
        and (version is None or v.version == version)
        and (not traffic or v.weight > 0 or v.backend == variant)
    ]
    if version is not None and not found:
        route.decide(version, {}, lambda: 0.0)  # raises UnknownVersion naming the known versions
    return found


async def signature_defs(
    dp: DataPlane, model: str, version: str | None, label: str | None
) -> tuple[tfserving_meta.SignatureDefMap, str | None]:
    """The model's SignatureDefs and the version they describe: a TF Serving variant's own, else a
    ``serving_default`` signature made from the first variant's V2 metadata that has any."""
    state = dp.state
    route = state.routes.route(model)
    version, variant = resolve(route, version, label)
    candidates = _candidates(route, version, variant, traffic=False)
    for v in candidates:
        backend = state.backends[v.backend]
        if isinstance(backend, TFServingCalls):
            signatures = await backend.signature_defs(model)
            if signatures is not None:
                return signatures, version or v.version
        md = await backend.metadata(model)
        if md and (md.get("inputs") or md.get("outputs")):
            return tfserving_meta.signatures_of_v2(md), version or v.version
    names = ", ".join(v.backend for v in candidates)
    raise BackendUnsupported(
        candidates[0].backend if candidates else "-", f"no variant of model '{model}' gives its metadata ({names})"
    )


async def version_status(dp: DataPlane, model: str, version: str | None, label: str | None) -> list[tuple[str | None, bool]]:
    """``(version, ready)`` per version of the route with traffic (or the one asked for), in order;
    a version is ready when any of its variants is."""
    state = dp.state
    route = state.routes.route(model)
    version, variant = resolve(route, version, label)
    candidates = _candidates(route, version, variant, traffic=True)
    ready = await asyncio.gather(*(state.backends[v.backend].ready(model) for v in candidates))
    by_version: dict[str | None, bool] = {}
    for v, ok in zip(candidates, ready):
        by_version[v.version] = by_version.get(v.version, False) or ok
    return sorted(by_version.items(), key=lambda kv: _version_order(kv[0]))


def _version_order(version: str | None) -> tuple[int, int, str]:
    if version is None:
        return (0, 0, "")
    return (1, int(version), "") if version.isdigit() else (2, 0, version)
