"""Cross checks of the upstream settings (:mod:`isthmus.config.resilience`) a schema cannot
express: run on the raw document by :mod:`isthmus.config.checks`, each problem at its field.

Per remote backend: ``load_balancer.weights`` keys are among its ``endpoints``;
``retries.per_try_timeout`` fits in ``timeout``; retries the circuit breakers can never let run;
``health_check.path`` is for HTTP backends only. Per route: ``hedging.after`` is shorter than
each variant's backend timeout, the backends can hedge at all, and the route is idempotent.
ONNX backends run in the gateway process and have none of these settings: the schema refuses
them, and :func:`onnx` says why.
"""

from __future__ import annotations

from typing import Any, Iterator

from isthmus.config.model import KServeBackendConfig, grpc_endpoint
from isthmus.config.resilience import CircuitBreakersConfig, ResilienceConfig, RetryBudgetConfig, RetryPolicyConfig
from isthmus.config.units import parse_duration

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

RESILIENCE_FIELDS: tuple[str, ...] = tuple(ResilienceConfig.model_fields)
GRPC_HEALTH = {"kserve-v2-grpc": "grpc.health.v1 Health/Check", "tfserving-grpc": "ModelService/GetModelStatus"}
DEFAULT_TIMEOUT: float = KServeBackendConfig.model_fields["timeout"].default
_NUM_RETRIES: int = RetryPolicyConfig.model_fields["num_retries"].default
_MAX_RETRIES: int = CircuitBreakersConfig.model_fields["max_retries"].default
_BUDGET_PERCENT: float = RetryBudgetConfig.model_fields["budget_percent"].default
_MIN_RETRIES: int = RetryBudgetConfig.model_fields["min_retry_concurrency"].default


def _duration(value: Any) -> float | None:
    """Seconds, or None when the value is not a valid duration (the schema says so)."""
    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError):
        return None
    return seconds if seconds > 0 else None


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def _mapping(b: dict[str, Any], key: str) -> dict[str, Any]:
    value = b.get(key)
    return value if isinstance(value, dict) else {}


def timeout_of(b: dict[str, Any]) -> float | None:
    return _duration(b.get("timeout", DEFAULT_TIMEOUT))


def onnx(b: dict[str, Any], path: FieldPath) -> Iterator[Problem]:
    """An ONNX backend given upstream settings: say why it has none (next to the schema's "unknown field")."""
    for key in RESILIENCE_FIELDS:
        if key in b:
            yield (*path, key), (
                f"'{key}' is for remote backends: an onnx backend runs in the gateway process, with no "
                "endpoints to connect to, balance, check, eject or retry"
            )


def backend(b: dict[str, Any], path: FieldPath) -> Iterator[Problem]:
    """The checks of one remote backend (its protocol known and not onnx)."""
    yield from _weights(b, path)
    retries = _mapping(b, "retries")
    per_try, timeout = _duration(retries.get("per_try_timeout")), timeout_of(b)
    if per_try is not None and timeout is not None and per_try > timeout:
        yield (*path, "retries", "per_try_timeout"), (
            f"per_try_timeout ({_fmt(per_try)}) exceeds the backend's timeout ({_fmt(timeout)}), which bounds "
            "all tries together: lower it, or raise timeout"
        )
    num_retries = retries.get("num_retries", _NUM_RETRIES)
    blocked = no_retries_allowed(b)
    if blocked is not None and isinstance(num_retries, int) and num_retries > 0:
        field, why = blocked
        yield (*path, *field), (
            f"{why}: the {num_retries} retr{'y' if num_retries == 1 else 'ies'} of retries.num_retries could never "
            "run; allow some, or set retries.num_retries: 0"
        )
    health = _mapping(b, "health_check")
    if "path" in health and b.get("protocol") in GRPC_HEALTH:
        yield (*path, "health_check", "path"), (
            f"{b['protocol']} backends are checked over gRPC ({GRPC_HEALTH[b['protocol']]}), not with an HTTP "
            "path: remove path"
        )


def _weights(b: dict[str, Any], path: FieldPath) -> Iterator[Problem]:
    weights = _mapping(b, "load_balancer").get("weights")
    endpoints = b.get("endpoints")
    if not isinstance(weights, dict) or not isinstance(endpoints, list):
        return
    written = [e for e in endpoints if isinstance(e, str)]
    canonical = {_canonical(e) for e in written} if b.get("protocol") in GRPC_HEALTH else set()
    for key in weights:
        if key in written or (isinstance(key, str) and _canonical(key) in canonical):
            continue
        yield (*path, "load_balancer", "weights", key), (
            f"'{key}' is not one of this backend's endpoints ({', '.join(written)}): weights are keyed by "
            "the endpoint as written in endpoints"
        )


def _canonical(endpoint: str) -> str:
    try:
        return grpc_endpoint(endpoint)
    except ValueError:
        return endpoint


def no_retries_allowed(b: dict[str, Any]) -> tuple[FieldPath, str] | None:
    """The field and the reason when the backend's circuit breakers allow no retry (nor hedge) in
    flight at all; None when they allow some (or the values are invalid: the schema says so)."""
    breakers = b.get("circuit_breakers", {})
    if not isinstance(breakers, dict):
        return None
    if "retry_budget" in breakers and breakers["retry_budget"] is None:
        if _number(breakers.get("max_retries", _MAX_RETRIES)) == 0:
            return ("circuit_breakers", "max_retries"), "circuit_breakers allow no retry in flight (max_retries: 0)"
        return None
    budget = breakers.get("retry_budget", {})
    if not isinstance(budget, dict):
        return None
    percent = _number(budget.get("budget_percent", _BUDGET_PERCENT))
    least = _number(budget.get("min_retry_concurrency", _MIN_RETRIES))
    if percent == 0 and least == 0:
        return ("circuit_breakers", "retry_budget"), (
            "the retry budget allows no retry in flight (budget_percent: 0, min_retry_concurrency: 0)"
        )
    return None


def routes(routes: list[Any], backends: list[Any]) -> Iterator[Problem]:
    """A route's hedging against its variants' backends."""
    by_name = {b["name"]: b for b in backends if isinstance(b, dict) and isinstance(b.get("name"), str)}
    for i, r in enumerate(routes):
        if not isinstance(r, dict) or not isinstance(r.get("hedging"), dict):
            continue
        path: FieldPath = ("routes", i, "hedging")
        if r.get("idempotent") is False:
            yield path, (
                "a route with idempotent: false is never hedged (a hedge sends the request a second time): "
                "remove hedging, or idempotent: false"
            )
        after = _duration(r["hedging"].get("after"))
        variants = r.get("variants") if isinstance(r.get("variants"), list) else []
        for v in variants:
            b = by_name.get(v.get("backend")) if isinstance(v, dict) else None
            if b is None or b.get("protocol") == "onnx":
                continue
            timeout = timeout_of(b)
            if after is not None and timeout is not None and after >= timeout:
                yield (*path, "after"), (
                    f"hedging.after ({_fmt(after)}) must be shorter than the timeout of backend '{b['name']}' "
                    f"({_fmt(timeout)}): no hedge could be sent before the request times out"
                )
            if no_retries_allowed(b) is not None:
                yield path, (
                    f"hedges count against the retries in flight of backend '{b['name']}', whose circuit_breakers "
                    "allow none: this route could never hedge"
                )
